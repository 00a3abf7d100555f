//! A throw-away certificate authority for TLS tests: a CA, server certificates for
//! 127.0.0.1/localhost, client certificates, and an expired server certificate, all generated
//! at test time and written as PEM files into a directory the test owns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A certificate and its key, written as `NAME.crt` and `NAME.key` (PEM).
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM), followed by nothing else: a leaf.
    pub cert: PathBuf,
    /// The private key (PKCS#8 PEM).
    pub key: PathBuf,
    /// The certificate as PEM text.
    pub cert_pem: String,
}

/// A certificate authority that writes what it issues into `dir`.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    /// The CA certificate (PEM file), to trust.
    pub cert: PathBuf,
}

impl Ca {
    /// A new CA named `name`, its certificate written to `dir/NAME-ca.crt`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let cert = dir.join(format!("{name}-ca.crt"));
        std::fs::write(&cert, issuer.pem()).unwrap();
        Ca {
            issuer,
            dir: dir.to_path_buf(),
            cert,
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost`, valid now.
    pub fn server(&self, name: &str) -> Issued {
        self.issue(name, true, false)
    }

    /// A server certificate for `127.0.0.1` and `localhost` that expired in 2020.
    pub fn expired_server(&self, name: &str) -> Issued {
        self.issue(name, true, true)
    }

    /// A client certificate (extended key usage clientAuth) with common name `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.issue(name, false, false)
    }

    fn issue(&self, name: &str, server: bool, expired: bool) -> Issued {
        let mut params = if server {
            let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            p.subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            p
        } else {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            p
        };
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let cert_path = self.dir.join(format!("{name}.crt"));
        let key_path = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Issued {
            cert: cert_path,
            key: key_path,
            cert_pem: cert.pem(),
        }
    }
}

/// A TLS client configuration (rustls, ring) that trusts the CA certificate in `ca` and
/// shows `identity` when a server asks for a client certificate.
pub fn client_config(ca: &Path, identity: Option<&Issued>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(&id.cert).unwrap()],
                PrivateKeyDer::from_pem_file(&id.key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}
