//! `sip-resync notify`: one out-of-dialog NOTIFY, as a PBX sends it.

use std::process::ExitCode;
use std::time::Duration;

use sip_resync::Transport;

use crate::exit;

pub(crate) async fn notify(
    target: &str,
    event: &str,
    to: Option<String>,
    timeout: u64,
) -> ExitCode {
    let Some((transport, hostport)) = target.split_once(':') else {
        eprintln!("error: target \"{target}\" must be udp:HOST:PORT or tcp:HOST:PORT");
        return ExitCode::from(exit::CONFIG);
    };
    let transport = match transport.to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => {
            eprintln!("error: target \"{target}\": transport must be udp or tcp");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let addr = match tokio::net::lookup_host(hostport)
        .await
        .map(|mut a| a.next())
    {
        Ok(Some(a)) => a,
        _ => {
            eprintln!(
                "error: target \"{target}\": cannot resolve \"{hostport}\" (expected HOST:PORT)"
            );
            return ExitCode::from(exit::CONFIG);
        }
    };
    let to = to.unwrap_or_else(|| format!("sip:{hostport}"));
    match sip_resync::send_notify(
        transport,
        addr,
        event,
        &to,
        Duration::from_secs(timeout.max(1)),
    )
    .await
    {
        Ok(fin) => {
            println!("{}", fin.status_line);
            if (200..300).contains(&fin.code) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::NON_2XX)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                sip_resync::NotifyError::Timeout { .. } => ExitCode::from(exit::TIMEOUT),
                _ => ExitCode::from(exit::NETWORK),
            }
        }
    }
}
