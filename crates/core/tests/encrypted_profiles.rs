//! Encrypted profiles made by the real `openssl enc` at test time, with both key derivations
//! (`-md md5`, as the vendors' documents and older OpenSSL make them, and `-md sha256`, what
//! OpenSSL 1.1.0 and later make by default), decrypted with the keys the vendor files name:
//! Cisco `[--key …]` in `Profile_Rule`, Grandstream `P1359`, Panasonic KX-UTG `CFG_FILE_KEY`
//! (Base64), Yealink AES-128-ECB with the common and MAC-oriented keys.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use sip_resync_core::config::{from_bytes, FileFormat, ParsedFile, Settings};
use sip_resync_core::crypt::{decrypt_fetched, openssl_decrypt, DecryptError, SALTED};

const LIMIT: u64 = 1 << 20;

/// Runs `openssl` with `args`, `input` on its standard input; its standard output.
fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed (scripts/test.sh installs it)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn settings(text: &[u8], name: &str) -> Settings {
    from_bytes(text, Path::new(name)).unwrap()
}

const CISCO_PROFILE: &[u8] = b"<flat-profile>\n  <Resync_Periodic ua=\"na\">7200</Resync_Periodic>\n  <Station_Name ua=\"na\">desk 1</Station_Name>\n</flat-profile>\n";

fn cisco_local() -> Settings {
    settings(
        b"<flat-profile>\n<Profile_Rule ua=\"na\">[--key $SA]https://prov.example/cisco/$MA.cfg</Profile_Rule>\n<GPP_SA ua=\"na\">SecretPhrase1234</GPP_SA>\n</flat-profile>\n",
        "spa.xml",
    )
}

#[test]
fn cisco_profiles_with_both_digests_and_gzip_inside() {
    let local = cisco_local();
    for md in ["md5", "sha256"] {
        let enc = openssl(
            &[
                "enc",
                "-e",
                "-aes-256-cbc",
                "-k",
                "SecretPhrase1234",
                "-md",
                md,
            ],
            CISCO_PROFILE,
        );
        assert!(enc.starts_with(SALTED));
        let plain = decrypt_fetched(&local, "0004f2a1b2c3.cfg", &enc, LIMIT).unwrap();
        assert_eq!(&*plain, CISCO_PROFILE, "-md {md}");
        // The decrypted file is a Cisco profile the engine validates.
        assert!(matches!(
            ParsedFile::parse(FileFormat::Auto, "0004f2a1b2c3.cfg", &plain).unwrap(),
            ParsedFile::Vendor(_)
        ));
    }
    // "Compression must precede encryption": gzip, then encrypt.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(CISCO_PROFILE).unwrap();
    let gz = gz.finish().unwrap();
    let enc = openssl(
        &[
            "enc",
            "-e",
            "-aes-256-cbc",
            "-k",
            "SecretPhrase1234",
            "-md",
            "md5",
        ],
        &gz,
    );
    assert_eq!(
        &*decrypt_fetched(&local, "p.cfg", &enc, LIMIT).unwrap(),
        CISCO_PROFILE
    );
    // A gzipped profile without encryption is inflated.
    assert_eq!(
        &*decrypt_fetched(&local, "p.cfg", &gz, LIMIT).unwrap(),
        CISCO_PROFILE
    );
    // A wrong key, and no key at all.
    let enc = openssl(
        &["enc", "-e", "-aes-256-cbc", "-k", "other", "-md", "md5"],
        CISCO_PROFILE,
    );
    let e = decrypt_fetched(&local, "p.cfg", &enc, LIMIT).unwrap_err();
    assert!(matches!(e, DecryptError::WrongKey { .. }), "{e}");
    assert!(!e.to_string().contains("SecretPhrase1234"));
    let none = settings(b"<flat-profile/>", "spa.xml");
    assert_eq!(
        decrypt_fetched(&none, "p.cfg", &enc, LIMIT).unwrap_err(),
        DecryptError::NoKey
    );
}

/// The padding check alone accepts about 1 in 128 wrong passwords; the plaintext check
/// rejects them all.
#[test]
fn wrong_passwords_that_pass_the_padding_check_are_rejected() {
    use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    use sip_resync_core::crypt::{evp_bytes_to_key, Kdf};
    let enc = openssl(
        &[
            "enc",
            "-e",
            "-aes-256-cbc",
            "-k",
            "SecretPhrase1234",
            "-md",
            "md5",
        ],
        CISCO_PROFILE,
    );
    let (salt, body) = enc[8..].split_at(8);
    let mut padding_ok = 0;
    for i in 0..4000 {
        let pass = format!("wrong-{i}");
        let m = evp_bytes_to_key(Kdf::Md5, pass.as_bytes(), salt, 48);
        let mut buf = body.to_vec();
        if cbc::Decryptor::<aes::Aes256>::new_from_slices(&m[..32], &m[32..])
            .unwrap()
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .is_ok()
        {
            padding_ok += 1;
        }
        assert_eq!(
            openssl_decrypt(pass.as_bytes(), &enc, LIMIT),
            None,
            "{pass}"
        );
    }
    assert!(
        padding_ok > 0,
        "expected some of 4000 wrong passwords to pass the padding check"
    );
    assert!(openssl_decrypt(b"SecretPhrase1234", &enc, LIMIT).is_some());
}

#[test]
fn grandstream_p1359() {
    let local = settings(
        b"<gs_provision version=\"1\"><config version=\"1\"><P1359>gs-pass</P1359></config></gs_provision>",
        "cfg.xml",
    );
    let plain = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<gs_provision version=\"1\"><config version=\"1\"><P193>720</P193></config></gs_provision>\n";
    for md in ["md5", "sha256"] {
        let enc = openssl(
            &["enc", "-e", "-aes-256-cbc", "-k", "gs-pass", "-md", md],
            plain,
        );
        assert_eq!(
            &*decrypt_fetched(&local, "cfg000b82000001.xml", &enc, LIMIT).unwrap(),
            plain,
            "-md {md}"
        );
    }
}

#[test]
fn panasonic_kx_utg_base64_with_every_key_length() {
    let local = settings(
        b"# Panasonic SIP Phone Standard Format File #\r\nCFG_FILE_KEY=\"12341234abcdabcd12341234abcdabcd\"\r\n",
        "kx.cfg",
    );
    let plain = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ProvisioningData><Item name=\"CFG_CYCLIC\" value=\"Y\"/></ProvisioningData>\n";
    for cipher in ["-aes-128-cbc", "-aes-192-cbc", "-aes-256-cbc"] {
        for md in ["md5", "sha256"] {
            let enc = openssl(
                &[
                    "enc",
                    cipher,
                    "-a",
                    "-salt",
                    "-pass",
                    "pass:12341234abcdabcd12341234abcdabcd",
                    "-md",
                    md,
                ],
                plain,
            );
            assert!(enc.starts_with(b"U2FsdGVkX1"), "Base64 text");
            assert!(enc.contains(&b'\n'), "wrapped at 64 columns");
            assert_eq!(
                &*decrypt_fetched(&local, "config.enc", &enc, LIMIT).unwrap(),
                plain,
                "{cipher} -md {md}"
            );
        }
    }
}

/// Yealink: AES-128-ECB without padding, the 16-character key used as raw bytes, computed
/// with `openssl enc -aes-128-ecb -nopad -K`; the MAC file takes the MAC-oriented key.
#[test]
fn yealink_common_and_mac_oriented_keys() {
    let local = settings(
        b"#!version:1.0.0.1\nstatic.auto_provision.aes_key_16.com = Com0123456789abc\nstatic.auto_provision.aes_key_16.mac = Mac0123456789abc\n",
        "y000000000066.cfg",
    );
    let mut local = local;
    local.provisioning.mac = Some("001565ABCDEF".into());
    let hex = |k: &str| k.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let mut plain =
        b"#!version:1.0.0.1\r\naccount.1.auth_name = a1001\r\naccount.1.password = s3cret\r\n"
            .to_vec();
    while !plain.len().is_multiple_of(16) {
        plain.push(b' ');
    }
    let for_mac = openssl(
        &[
            "enc",
            "-e",
            "-aes-128-ecb",
            "-nopad",
            "-K",
            &hex("Mac0123456789abc"),
        ],
        &plain,
    );
    let for_com = openssl(
        &[
            "enc",
            "-e",
            "-aes-128-ecb",
            "-nopad",
            "-K",
            &hex("Com0123456789abc"),
        ],
        &plain,
    );
    assert_eq!(for_mac.len(), plain.len());
    let got = decrypt_fetched(&local, "001565abcdef.cfg", &for_mac, LIMIT).unwrap();
    assert!(matches!(got, Cow::Owned(_)));
    assert_eq!(&*got, &plain[..]);
    assert_eq!(
        &*decrypt_fetched(&local, "y000000000066.cfg", &for_com, LIMIT).unwrap(),
        &plain[..]
    );
    // The decrypted file reads as Yealink.
    let parsed = ParsedFile::parse(FileFormat::Auto, "001565abcdef.cfg", &got).unwrap();
    assert!(matches!(parsed, ParsedFile::Vendor(_)));
    // A wrong key: refused, not stored as garbage.
    let other = openssl(
        &[
            "enc",
            "-e",
            "-aes-128-ecb",
            "-nopad",
            "-K",
            &hex("Xyz0123456789abc"),
        ],
        &plain,
    );
    let e = decrypt_fetched(&local, "001565abcdef.cfg", &other, LIMIT).unwrap_err();
    assert!(matches!(e, DecryptError::WrongKey { keys: 2, .. }), "{e}");
    // A plain file passes through.
    assert!(matches!(
        decrypt_fetched(&local, "001565abcdef.cfg", &plain, LIMIT).unwrap(),
        Cow::Borrowed(_)
    ));
}
