//! The standalone agent through its library API, on real sockets on 127.0.0.1: the handle's
//! triggers, outcomes, settings updates, clock validity, status and shutdown.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sip_resync::config::{self, Settings};
use sip_resync::engine::{Cause, ClockValidity, Outcome, RunResult};
use sip_resync::send_notify;
use sip_resync::{Agent, AgentHandle, AgentOptions, Transport};
use tokio::sync::broadcast;

fn settings(toml: &str) -> Settings {
    config::from_bytes(toml.as_bytes(), Path::new("agent.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

/// The status code of the final response to a NOTIFY with `Event: {event}`.
async fn notify(addr: SocketAddr, event: &str) -> u16 {
    send_notify(
        Transport::Udp,
        addr,
        event,
        "sip:agent@127.0.0.1",
        Duration::from_secs(5),
    )
    .await
    .expect("a final response")
    .code
}

/// Waits (at most 10 s) until `f` returns something: for what the agent's tasks pass on.
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn next(outcomes: &mut broadcast::Receiver<Outcome>) -> Outcome {
    tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .expect("an outcome within 10 s")
        .expect("the outcome channel is open")
}

fn udp_addr(handle: &AgentHandle) -> SocketAddr {
    handle.status().listening[0].1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_files_settings_updates_rearm_the_endpoint() {
    let base = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n";
    let agent = Agent::start(AgentOptions::new(settings(base)))
        .await
        .unwrap();
    let handle = agent.handle();
    let mut outcomes = handle.subscribe();
    let run = tokio::spawn(agent.run(std::future::pending()));
    let addr = udp_addr(&handle);

    assert_eq!(notify(addr, "resync").await, 489);
    handle
        .update_settings(settings(&format!("{base}events = [\"resync\"]\n")))
        .unwrap();
    assert_eq!(notify(addr, "resync").await, 200);
    assert_eq!(notify(addr, "check-sync").await, 489);
    handle
        .update_settings(settings(&format!(
            "{base}events = [\"resync\"]\nallow = [\"192.0.2.0/24\"]\n"
        )))
        .unwrap();
    assert_eq!(notify(addr, "resync").await, 403, "loopback is refused now");
    let mut bad = settings(base);
    bad.time_zone = Some("Mars/Olympus".into());
    assert!(handle.update_settings(bad).is_err(), "an unknown zone");

    let status = handle.status();
    assert!(status.running);
    assert!(status.engine.is_none());
    assert_eq!(status.settings.sip.events, ["resync"]);
    let c = status.counters;
    assert_eq!(
        (c.received, c.resync_requests, c.rejected, c.refused_source),
        (4, 1, 3, 1)
    );
    assert!(!handle.trigger(Cause::Manual {
        reason: "test".into()
    }));

    handle.shutdown();
    let counters = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops when asked")
        .unwrap();
    assert_eq!(counters.received, 4);
    assert!(!handle.status().running);
    assert!(matches!(
        outcomes.recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
    assert!(matches!(
        handle.subscribe().recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_files_the_handle_triggers_reports_and_rearms() {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("a.txt"), "one").unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = |events: &str, time: &str| {
        settings(&format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\nevents = [\"{events}\"]\n\
             [schedule]\ntime_zone = \"UTC\"\n[schedule.panasonic]\ncfg_resync_time = \"{time}\"\n\
             [provisioning]\nfetch_at_startup = false\n\
             files = [{{ url = \"file://{}/a.txt\", format = \"raw\" }}]\n",
            files.path().display()
        ))
    };
    let options = AgentOptions::new(config("check-sync", "03:00"))
        .state_dir(state.path())
        .clock(ClockValidity::NotYet);
    let agent = Agent::start(options).await.unwrap();
    let handle = agent.handle();
    let mut outcomes = handle.subscribe();
    let run = tokio::spawn(agent.run(std::future::pending()));
    let addr = udp_addr(&handle);

    // A daily time waits for a valid clock.
    let engine = until("engine status", || handle.status().engine).await;
    assert_eq!(engine.next_poll, None, "{engine:?}");
    handle.set_clock_valid(true);
    let planned = until("a planned poll", || {
        handle.status().engine.filter(|e| e.next_poll.is_some())
    })
    .await;
    assert!(planned.schedule.contains("03:00"), "{planned:?}");

    assert!(handle.trigger(Cause::Manual {
        reason: "the user asked".into()
    }));
    let first = next(&mut outcomes).await;
    assert_eq!(first.run, 1);
    assert!(matches!(first.cause, Cause::Manual { .. }));
    assert!(matches!(first.result, RunResult::Updated { .. }), "{first}");
    assert_eq!(
        std::fs::read(state.path().join("current/a.txt")).unwrap(),
        b"one"
    );
    until("the last outcome", || {
        handle.status().last_outcome.filter(|o| o.run == 1)
    })
    .await;

    assert_eq!(notify(addr, "check-sync;reboot=true").await, 200);
    let second = next(&mut outcomes).await;
    assert_eq!(second.result, RunResult::Unchanged);
    assert!(second.reboot_requested, "the NOTIFY asked for it");

    // New local settings: the engine re-arms its schedule and the endpoint its events.
    handle.update_settings(config("resync", "04:00")).unwrap();
    until("the new events", || {
        (handle.status().settings.sip.events == ["resync"]).then_some(())
    })
    .await;
    let rearmed = until("the new schedule", || {
        handle
            .status()
            .engine
            .filter(|e| e.schedule.contains("04:00"))
    })
    .await;
    assert!(rearmed.next_poll.is_some());
    assert_eq!(notify(addr, "check-sync").await, 489);
    assert_eq!(notify(addr, "resync").await, 200);
    let third = next(&mut outcomes).await;
    assert_eq!(third.run, 3);
    assert!(matches!(third.cause, Cause::Notify { ref event, .. } if event == "resync"));

    handle.shutdown();
    let counters = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops when asked")
        .unwrap();
    assert_eq!((counters.received, counters.resync_requests), (3, 2));
    assert!(matches!(
        outcomes.recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_updated_before_run_apply_and_a_dropped_run_cleans_up() {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("a.txt"), "one").unwrap();
    let state = tempfile::tempdir().unwrap();
    let config = |events: &str, interval: u32| {
        settings(&format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\nevents = [\"{events}\"]\n\
             [schedule.panasonic]\ncfg_cyclic = true\ncfg_cyclic_intvl = {interval}\n\
             [provisioning]\nfetch_at_startup = false\n\
             files = [{{ url = \"file://{}/a.txt\", format = \"raw\" }}]\n",
            files.path().display()
        ))
    };
    let agent = Agent::start(AgentOptions::new(config("check-sync", 60)).state_dir(state.path()))
        .await
        .unwrap();
    let handle = agent.handle();
    handle.update_settings(config("resync", 90)).unwrap();
    // In force when update_settings returns: no task has to run first.
    assert_eq!(handle.status().settings.sip.events, ["resync"]);
    // Two NOTIFYs wait in the listener's socket buffer before `run` starts: the first
    // datagrams it reads are judged by the new settings.
    let addr = udp_addr(&handle);
    let pbx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (call_id, event) in [("early-1", "resync"), ("early-2", "check-sync")] {
        pbx.send_to(&support::notify_datagram(call_id, event), addr)
            .await
            .unwrap();
    }
    let mut outcomes = handle.subscribe();
    let run = tokio::spawn(agent.run(std::future::pending()));
    let mut codes = std::collections::BTreeMap::new();
    let mut buf = [0u8; 2048];
    while codes.len() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), pbx.recv(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text[8..11].parse().unwrap();
        let call_id = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap()
            .to_owned();
        codes.insert(call_id, code);
    }
    assert_eq!(
        codes["early-1"], 200,
        "resync is accepted from the first datagram on"
    );
    assert_eq!(codes["early-2"], 489, "check-sync no longer is");
    // The engine's task re-arms the schedule too.
    until("the new schedule", || {
        handle
            .status()
            .engine
            .filter(|e| e.schedule.contains("every 90 min"))
    })
    .await;
    assert!(handle.status().running);

    // A run whose future is dropped stops its helpers and closes the outcome channel.
    run.abort();
    let _ = run.await;
    assert!(!handle.status().running);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), outcomes.recv())
            .await
            .expect("the channel closes")
        {
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
}
