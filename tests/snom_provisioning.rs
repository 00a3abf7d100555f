//! A Snom phone's provisioning, end to end on the defaults: the local Snom file names its
//! settings server in `setting_server` (as FusionPBX's and Wazo's Snom templates do), the
//! server answers with a `<setting-files>` list, and the daemon fetches the list and every
//! file it names, at start-up and on each check-sync, from a real HTTP server on loopback;
//! the settings of the listed files (polling, credentials) take effect.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::daemon::Daemon;
use support::http::HttpServer;

const MAC: &str = "000413AABBCC";

fn notify(socket: &UdpSocket, target: std::net::SocketAddr, tag: &str) {
    socket
        .send_to(&support::notify_datagram(tag, "check-sync"), target)
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = socket.recv(&mut buf).expect("an answer within 2 s");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200 "),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn setting_server_and_its_setting_files_are_fetched_at_start_up_and_on_check_sync() {
    let server = HttpServer::start();
    // The per-phone list: one file relative to the list, one absolute with Snom's {mac}.
    server.put(
        &format!("/snom/{MAC}.xml"),
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<setting-files>\n  <file url=\"general.xml\"/>\n  <file url=\"{}\"/>\n</setting-files>\n",
            server.url("/snom/{mac}-phone.xml")
        ),
    );
    server.put(
        "/snom/general.xml",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<settings>\n<phone-settings e=\"2\">\n<prov_polling_enabled perm=\"\">on</prov_polling_enabled>\n<prov_polling_mode perm=\"\">rel</prov_polling_mode>\n<prov_polling_period perm=\"\">86400</prov_polling_period>\n</phone-settings>\n</settings>\n",
    );
    server.put(
        &format!("/snom/{MAC}-phone.xml"),
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<settings>\n<phone-settings e=\"2\">\n<user_realname idx=\"1\" perm=\"\">J\u{fc}rgen</user_realname>\n<user_name idx=\"1\" perm=\"\">1001</user_name>\n<user_pass idx=\"1\" perm=\"\">s3cret</user_pass>\n</phone-settings>\n</settings>\n"
            .chars()
            .map(|c| c as u32 as u8)
            .collect::<Vec<u8>>(),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("snom.xml");
    std::fs::write(
        &config,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<settings>\n<phone-settings e=\"2\">\n<setting_server perm=\"RW\">{}</setting_server>\n</phone-settings>\n</settings>\n",
            server.url("/snom/{mac}.xml")
        ),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_with(
        config.to_str().unwrap(),
        &["--state-dir", state.path().to_str().unwrap(), "--mac", MAC],
    );
    assert_eq!(
        daemon.count("run 1 (startup): updated", 1, Duration::from_secs(10)),
        1
    );
    let paths: Vec<String> = server.requests().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        [
            format!("/snom/{MAC}.xml"),
            "/snom/general.xml".to_owned(),
            format!("/snom/{MAC}-phone.xml"),
        ]
    );
    // The applied set holds the list and both files, byte for byte.
    let current = state.path().join("current");
    for name in [
        format!("{MAC}.xml"),
        "general.xml".into(),
        format!("{MAC}-phone.xml"),
    ] {
        assert!(current.join(&name).is_file(), "{name} applied");
    }
    // The listed file's polling re-armed the schedule.
    assert_eq!(
        daemon.count(
            "schedule re-armed by a provisioned file",
            1,
            Duration::from_secs(5)
        ),
        1
    );

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    server.put(
        "/snom/general.xml",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<settings>\n<phone-settings e=\"2\">\n<prov_polling_enabled perm=\"\">off</prov_polling_enabled>\n</phone-settings>\n</settings>\n",
    );
    notify(&socket, daemon.udp_addr(), "snom-1");
    assert_eq!(
        daemon.count("run 2 (notify check-sync", 1, Duration::from_secs(10)),
        1
    );
    assert_eq!(server.total_gets(), 6, "the list and both files again");
    let (status, log) = daemon.terminate_with_log();
    assert!(status.success());
    let run2 = log
        .iter()
        .find(|l| l.contains("run 2 (notify check-sync"))
        .expect("run 2 logged");
    assert!(run2.contains("updated general.xml"), "{run2}");
}
