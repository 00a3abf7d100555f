//! Real TFTP and FTP servers on 127.0.0.1 for the provisioning tests: Debian's tftpd-hpa
//! (`in.tftpd`) and vsftpd, each serving a temporary directory. Each server runs in a process
//! group of its own (the servers fork one process per transfer or session), and the whole
//! group is killed and the server reaped on drop, even when the test panics.
//!
//! vsftpd's login with a user and password is a virtual user (`guest_enable`): PAM checks
//! the password against a file of the test (`pam_pwdfile`, Debian's libpam-pwdfile). PAM
//! reads its services from `/etc/pam.d` only, so the server writes one there under a name
//! of its own (`sip-resync-test-PID-N`) and removes it on drop.

use std::io::Read;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A server process and its process group; killed (the group) and reaped on drop.
struct Group {
    child: Child,
}

impl Group {
    fn spawn(cmd: &mut Command) -> Group {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (scripts/test.sh installs it)"));
        Group { child }
    }

    /// The server's standard error, if it has exited (it failed to start).
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                Some(format!("{status}: {err}"))
            }
            _ => None,
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The group's id is the leader's pid: the server and every process it forked.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (the server binds it next).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `bytes` as `dir/name`, readable by everyone (servers drop their privileges).
fn put_file(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn in_tftpd() -> &'static str {
    if Path::new("/usr/sbin/in.tftpd").exists() {
        "/usr/sbin/in.tftpd"
    } else {
        "in.tftpd"
    }
}

/// tftpd-hpa in the foreground on 127.0.0.1, serving a temporary directory (`--secure`: the
/// file names are relative to it).
pub struct TftpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    _group: Group,
}

impl TftpServer {
    /// A server that negotiates options (RFC 2347 to 2349).
    pub fn start() -> TftpServer {
        TftpServer::start_with(&[])
    }

    /// A server started with extra arguments, e.g. `["--refuse", "blksize"]`.
    pub fn start_with(extra: &[&str]) -> TftpServer {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_udp_port();
            let mut group = Group::spawn(
                Command::new(in_tftpd())
                    .args(["--foreground", "--listen", "--secure", "--user", "root"])
                    .args(["--address", &format!("127.0.0.1:{port}")])
                    .args(extra)
                    .arg(dir.path()),
            );
            if wait_tftp(port, &mut group) {
                return TftpServer {
                    port,
                    dir,
                    _group: group,
                };
            }
        }
        panic!("in.tftpd did not start on a free port in five tries");
    }

    /// Serves `bytes` as `name`.
    pub fn put(&self, name: &str, bytes: impl AsRef<[u8]>) {
        put_file(self.dir.path(), name, bytes.as_ref());
    }

    pub fn url(&self, name: &str) -> String {
        format!("tftp://127.0.0.1:{}/{name}", self.port)
    }
}

/// Whether the server answers a read request (for a file that does not exist) within 5 s.
fn wait_tftp(port: u16, group: &mut Group) -> bool {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 600];
    while Instant::now() < deadline {
        if group.exited().is_some() {
            return false;
        }
        let _ = probe.send_to(
            b"\x00\x01probe-of-the-test\x00octet\x00",
            ("127.0.0.1", port),
        );
        if let Ok((n, _)) = probe.recv_from(&mut buf) {
            if n >= 2 && buf[..2] == [0, 5] {
                return true;
            }
        }
    }
    false
}

/// Options of a [`FtpServer`].
#[derive(Debug, Clone, Default)]
pub struct FtpOptions {
    /// A user and password (a virtual user); anonymous logins are then refused.
    pub user: Option<(String, String)>,
    /// A certificate and key (PEM): explicit TLS (`AUTH TLS`), required for every login.
    pub tls: Option<(PathBuf, PathBuf)>,
}

static PAM_SERVICES: AtomicUsize = AtomicUsize::new(0);

/// vsftpd in the foreground on 127.0.0.1, serving a temporary directory, passive mode.
pub struct FtpServer {
    pub port: u16,
    root: PathBuf,
    _dir: tempfile::TempDir,
    pam_service: Option<PathBuf>,
    _group: Group,
}

impl FtpServer {
    pub fn start(opts: FtpOptions) -> FtpServer {
        let dir = tempfile::tempdir().unwrap();
        // The served directory and the way to it are readable by vsftpd's unprivileged user;
        // the root of a chroot must not be writable by it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("root");
        let empty = dir.path().join("empty");
        for d in [&root, &empty] {
            std::fs::create_dir(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut conf = format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nbackground=NO\n\
             write_enable=NO\nsecure_chroot_dir={}\nseccomp_sandbox=NO\nxferlog_enable=NO\n\
             pasv_enable=YES\nconnect_from_port_20=NO\nuse_localtime=NO\n\
             vsftpd_log_file={}\n",
            empty.display(),
            dir.path().join("vsftpd.log").display()
        );
        let mut pam_service = None;
        match &opts.user {
            None => conf.push_str(&format!(
                "anonymous_enable=YES\nno_anon_password=YES\nanon_root={}\nlocal_enable=NO\n",
                root.display()
            )),
            Some((user, password)) => {
                let hash = Command::new("openssl")
                    .args(["passwd", "-6", password])
                    .output()
                    .expect("openssl passwd");
                let users = dir.path().join("users");
                std::fs::write(
                    &users,
                    format!("{user}:{}", String::from_utf8_lossy(&hash.stdout).trim()),
                )
                .unwrap();
                let name = format!(
                    "sip-resync-test-{}-{}",
                    std::process::id(),
                    PAM_SERVICES.fetch_add(1, Ordering::Relaxed)
                );
                let service = Path::new("/etc/pam.d").join(&name);
                std::fs::write(
                    &service,
                    format!(
                        "auth required pam_pwdfile.so pwdfile={}\naccount required pam_permit.so\n",
                        users.display()
                    ),
                )
                .unwrap();
                pam_service = Some(service);
                conf.push_str(&format!(
                    "anonymous_enable=NO\nlocal_enable=YES\nguest_enable=YES\nguest_username=ftp\n\
                     chroot_local_user=YES\nlocal_root={}\npam_service_name={name}\n",
                    root.display()
                ));
            }
        }
        if let Some((cert, key)) = &opts.tls {
            conf.push_str(&format!(
                "ssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\nallow_anon_ssl=YES\n\
                 force_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\nforce_local_logins_ssl=YES\n\
                 force_local_data_ssl=YES\nssl_ciphers=HIGH\n",
                cert.display(),
                key.display()
            ));
        }
        for _ in 0..5 {
            let port = free_tcp_port();
            let path = dir.path().join("vsftpd.conf");
            std::fs::write(&path, format!("{conf}listen_port={port}\n")).unwrap();
            let mut group = Group::spawn(Command::new(vsftpd()).arg(&path));
            if let Some(()) = wait_ftp(port, &mut group) {
                return FtpServer {
                    port,
                    root,
                    _dir: dir,
                    pam_service,
                    _group: group,
                };
            }
        }
        if let Some(s) = &pam_service {
            let _ = std::fs::remove_file(s);
        }
        panic!("vsftpd did not start on a free port in five tries");
    }

    /// Serves `bytes` as `name`.
    pub fn put(&self, name: &str, bytes: impl AsRef<[u8]>) {
        put_file(&self.root, name, bytes.as_ref());
    }

    /// Stops serving `name`.
    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.root.join(name)).unwrap();
    }

    /// `ftp://` (or `ftps://`) URL of `name`, with `userinfo@` if given.
    pub fn url(&self, scheme: &str, userinfo: Option<&str>, name: &str) -> String {
        let at = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        format!("{scheme}://{at}127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        if let Some(s) = &self.pam_service {
            let _ = std::fs::remove_file(s);
        }
    }
}

fn vsftpd() -> &'static str {
    if Path::new("/usr/sbin/vsftpd").exists() {
        "/usr/sbin/vsftpd"
    } else {
        "vsftpd"
    }
}

/// Waits (5 s at most) until the server greets a connection with 220.
fn wait_ftp(port: u16, group: &mut Group) -> Option<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(why) = group.exited() {
            eprintln!("vsftpd exited: {why}");
            return None;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 3];
            if s.read_exact(&mut buf).is_ok() && &buf == b"220" {
                return Some(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
