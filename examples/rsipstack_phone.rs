//! A softphone on rsipstack (a SIP stack with its own transactions, transports, registration
//! and digest client) that keeps its configuration current with sip-resync.
//!
//! It registers one line at a registrar (digest authentication) and keeps the registration
//! refreshed; answers its own traffic as a phone does (OPTIONS 200, an INVITE auto-answered,
//! which makes the phone busy until the BYE, other NOTIFYs 200, other methods 405); hands each
//! out-of-dialog NOTIFY `Event: check-sync` to sip-resync, which answers it (200, or a 401
//! digest challenge with `[sip.auth] challenge = true`) and runs provisioning: the files of
//! `[provisioning]`, fetched into the state directory, the schedule, and the settings a
//! fetched file brings. A check-sync that arrives during a call is fetched once the call ends.
//!
//! ```text
//! cargo run --release --example rsipstack_phone -- --registrar udp:HOST:PORT|tcp:HOST:PORT \
//!     --user USER --password PASS --config FILE --state-dir DIR
//! ```
//!
//! It prints `registered USER at TRANSPORT:HOST:PORT` once the registrar accepted the line,
//! `call answered` and `call ended` around a call, `answered METHOD` when a server
//! transaction has ended with its final response, and one `provisioning: …` line per run.
//! `tests/rsipstack.rs` runs it against Kamailio. docs/embedding.md explains the glue between
//! the two markers below, the whole of what a host writes for sip-resync.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::registration::{RefreshOutcome, Registration};
use rsipstack::platform::CancellationToken;
use rsipstack::sip::headers::make_header;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipConnection, TransportLayer};
use rsipstack::EndpointBuilder;
use sip_resync::{AgentOptions, HostedAgent, Transport, Verdict};

#[derive(Parser, Debug)]
#[command(about = "A softphone on rsipstack that keeps its configuration current with sip-resync")]
struct Args {
    /// The registrar: udp:HOST:PORT or tcp:HOST:PORT.
    #[arg(long)]
    registrar: String,
    /// The line's user name (also the digest user name).
    #[arg(long)]
    user: String,
    /// The line's password.
    #[arg(long)]
    password: String,
    /// The sip-resync configuration (TOML, Panasonic .cfg or Snom XML).
    #[arg(long)]
    config: PathBuf,
    /// Where applied files live.
    #[arg(long)]
    state_dir: PathBuf,
}

/// Registration lifetime asked for, in seconds: refreshed at 75 % of what is granted.
const EXPIRES: u32 = 300;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sip_resync=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (tcp, registrar) = match args.registrar.split_once(':') {
        Some(("udp", addr)) => (false, addr.parse::<SocketAddr>()?),
        Some(("tcp", addr)) => (true, addr.parse::<SocketAddr>()?),
        _ => {
            return Err(format!(
                "--registrar {}: give udp:HOST:PORT or tcp:HOST:PORT",
                args.registrar
            )
            .into())
        }
    };

    // The SIP stack: a UDP socket on the registrar's side (over TCP the registration dials a
    // connection, and requests to the phone come back on it), the transaction layer.
    let cancel = CancellationToken::new();
    let transports = TransportLayer::new(cancel.clone());
    let local = SocketAddr::new(registrar.ip(), 0);
    let udp = UdpConnection::create_connection(local, None, Some(cancel.child_token())).await?;
    transports.add_transport(udp.into());
    let endpoint = EndpointBuilder::new()
        .with_user_agent("rsipstack-phone")
        .with_transport_layer(transports)
        .with_cancel_token(cancel.clone())
        .build();
    let mut incoming = endpoint.incoming_transactions()?;
    let stack = endpoint.inner.clone();
    tokio::spawn(async move { stack.serve().await });

    // sip-resync glue: begin
    let options = AgentOptions::load(&args.config)?.state_dir(&args.state_dir);
    let resync = HostedAgent::start(options)?;
    let mut outcomes = resync.handle().subscribe();
    tokio::spawn(async move {
        while let Ok(outcome) = outcomes.recv().await {
            println!("provisioning: {outcome}");
        }
    });
    // sip-resync glue: end

    // The registration, refreshed until the phone stops.
    let credential = Credential {
        username: args.user.clone(),
        password: args.password.clone(),
        realm: None,
        auth_username: None,
    };
    let mut registration = Registration::new(endpoint.inner.clone(), Some(credential));
    let transport = if tcp { ";transport=tcp" } else { "" };
    let server = format!("sip:{registrar}{transport}").as_str().try_into()?;
    let (user, token) = (args.user.clone(), cancel.child_token());
    let label = args.registrar.clone();
    tokio::spawn(async move {
        let mut reported = false;
        registration
            .keep_alive(server, EXPIRES, token, |outcome| match outcome {
                RefreshOutcome::Registered(_) if !reported => {
                    reported = true;
                    println!("registered {user} at {label}");
                }
                RefreshOutcome::Registered(_) => {}
                RefreshOutcome::Rejected(r) => eprintln!("registration refused: {}", r.status_code),
                RefreshOutcome::Failed(e) => eprintln!("registration failed: {e}"),
            })
            .await;
    });

    let serve = async {
        while let Some(tx) = incoming.recv().await {
            let resync = resync.clone();
            tokio::spawn(async move {
                let method = tx.original.method;
                match answer(tx, &resync).await {
                    // Printed once the server transaction has ended: rsipstack answers a
                    // retransmission from its table of ended transactions from then on.
                    Ok(true) => println!("answered {method}"),
                    Ok(false) => {}
                    Err(e) => eprintln!("cannot answer: {e}"),
                }
            });
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    resync.shutdown();
    cancel.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// Answers one new server transaction; true when that ended it (a final response sent).
async fn answer(mut tx: Transaction, resync: &HostedAgent) -> rsipstack::Result<bool> {
    respond(&mut tx, resync).await?;
    Ok(tx.is_terminated())
}

/// Answers a new server transaction as the phone does; a resync NOTIFY is sip-resync's.
async fn respond(tx: &mut Transaction, resync: &HostedAgent) -> rsipstack::Result<()> {
    let req = &tx.original;
    let to_tag = req.to_header()?.tag()?.map(|t| t.to_string());
    // sip-resync glue: begin
    let event = req.headers.iter().find_map(|h| match h {
        Header::Event(e) => Some(e.value().to_owned()),
        _ => None,
    });
    if resync.claims(&req.method.to_string(), to_tag.as_deref(), event.as_deref()) {
        let (via, hop) = SipConnection::parse_target_from_via(req.via_header()?)?;
        let transport = Transport::from_via(&via.to_string()).unwrap_or(Transport::Udp);
        match resync.handle_transaction(hop.try_into()?, transport, req.to_string().as_bytes()) {
            Verdict::Ours {
                answer: Some(a), ..
            } => {
                let mut response = tx.endpoint_inner.make_response(req, a.status.into(), None);
                response.wire_reason = Some(a.reason.to_owned());
                if let (Some(tag), Ok(to)) = (a.to_tag, response.to_header_mut()) {
                    to.mut_tag(tag.to_string().into())?;
                }
                for (name, value) in a.headers {
                    response.headers.push(make_header(name, value));
                }
                return tx.respond(response).await;
            }
            Verdict::Ours { .. } => return Ok(()), // dropped (refused, rate limit): no answer
            _ => {}                                // not a resync NOTIFY after all: the phone's own
        }
    }
    // sip-resync glue: end
    match tx.original.method {
        Method::Options => {
            tx.reply_with(
                StatusCode::OK,
                vec![make_header("Allow", ALLOW.into())],
                None,
            )
            .await
        }
        Method::Invite if to_tag.is_none() => {
            // Auto-answered, without media: the phone is in a call until the BYE.
            resync.set_busy(true); // sip-resync glue (1 line)
            println!("call answered");
            tx.reply(StatusCode::OK).await
        }
        Method::Bye => {
            resync.set_busy(false); // sip-resync glue (1 line)
            println!("call ended");
            tx.reply(StatusCode::OK).await
        }
        Method::Ack => Ok(()),
        // Other NOTIFYs (message-summary, in-dialog ones): acknowledged.
        Method::Notify => tx.reply(StatusCode::OK).await,
        _ => {
            tx.reply_with(
                StatusCode::MethodNotAllowed,
                vec![make_header("Allow", ALLOW.into())],
                None,
            )
            .await
        }
    }
}

/// What the phone answers.
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY";
