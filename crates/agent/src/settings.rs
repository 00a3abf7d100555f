//! The one owner of the settings in effect.
//!
//! The settings in effect are the local configuration (from the file, or
//! [`crate::AgentHandle::update_settings`]) overlaid by the applied provisioning files
//! (a fetched Panasonic file's `CFG_RESYNC_FROM_SIP`, say). [`SettingsOwner`] holds both
//! inputs and the result, and is the only place that computes it. Everyone else subscribes to
//! its watch channel:
//!
//! ```text
//!   AgentHandle::update_settings ─► set_local ─┐
//!   engine, after an apply ───────► set_applied ┴► SettingsOwner ─► watch ─┬─► listeners' endpoints
//!                                                                          ├─► engine (schedule)
//!                                                                          └─► status()
//! ```
//!
//! The listeners' endpoints look at the channel before each message (or batch of datagrams)
//! and re-arm themselves when it changed (an atomic load when it did not), so a change
//! published before an outcome is reported applies to every message handled after it. The
//! engine re-arms its schedule when it sees a change. Nothing calls back up into the agent.

use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use sip_resync_core::config::{self, ParsedFile, Provisioned, Settings, SipSettings};
use sip_resync_core::sync::lock;
use tokio::sync::watch;

/// The applied files, parsed, in configured order.
pub(crate) type ParsedSet = Vec<(String, Arc<ParsedFile>)>;

const LOG_TARGET: &str = "sip_resync";

/// The inputs of the settings in effect, and the result; changed only under its lock, so that
/// every publication is computed from the latest inputs and seen in order.
#[derive(Debug)]
struct Inputs {
    local: Settings,
    zone: TimeZone,
    applied: ParsedSet,
}

/// Owns the settings in effect; see the module documentation.
#[derive(Debug)]
pub(crate) struct SettingsOwner {
    inputs: Mutex<Inputs>,
    effective: watch::Sender<Arc<Settings>>,
}

impl SettingsOwner {
    /// The owner of `local` settings with no applied files yet.
    pub(crate) fn new(local: Settings, zone: TimeZone) -> Arc<SettingsOwner> {
        let effective = Arc::new(local.clone());
        Arc::new(SettingsOwner {
            inputs: Mutex::new(Inputs {
                local,
                zone,
                applied: Vec::new(),
            }),
            effective: watch::channel(effective).0,
        })
    }

    /// The settings in effect now.
    pub(crate) fn current(&self) -> Arc<Settings> {
        self.effective.borrow().clone()
    }

    /// A subscription to the settings in effect; the first value is the current one.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Settings>> {
        self.effective.subscribe()
    }

    /// The time zone of the local settings.
    pub(crate) fn zone(&self) -> TimeZone {
        lock(&self.inputs).zone.clone()
    }

    /// The applied file named `name`, parsed, if the applied set has it.
    pub(crate) fn applied(&self, name: &str) -> Option<Arc<ParsedFile>> {
        lock(&self.inputs)
            .applied
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
    }

    /// Replaces the local settings. The `[provisioning]` table is read at start only: a
    /// change to it is logged and kept out.
    pub(crate) fn set_local(&self, mut local: Settings, zone: TimeZone) {
        let mut inputs = lock(&self.inputs);
        if local.provisioning != inputs.local.provisioning {
            tracing::warn!(target: LOG_TARGET, "the [provisioning] settings changed; they take effect when the agent is started again");
            local.provisioning = inputs.local.provisioning.clone();
        }
        inputs.local = local;
        inputs.zone = zone;
        self.publish(&inputs, "the local configuration");
    }

    /// Replaces the applied files (after an apply, or once at start with the set on disk).
    pub(crate) fn set_applied(&self, applied: ParsedSet, by: &str) {
        let mut inputs = lock(&self.inputs);
        inputs.applied = applied;
        self.publish(&inputs, by);
    }

    /// Recomputes the settings in effect and publishes them when they changed. Called under
    /// the inputs' lock, so publications are in order.
    fn publish(&self, inputs: &Inputs, by: &str) {
        let provisioned: Vec<Provisioned<'_>> = inputs
            .applied
            .iter()
            .map(|(name, file)| Provisioned { name, file })
            .collect();
        let (effective, warnings) = config::overlay(&inputs.local, &provisioned);
        for w in warnings {
            tracing::warn!(target: LOG_TARGET, "{w}");
        }
        let previous = self.current();
        if effective == *previous {
            return;
        }
        log_sip_changes(&previous.sip, &effective.sip, by);
        self.effective.send_replace(Arc::new(effective));
    }
}

/// Logs what changed of the SIP settings that the endpoints take at once: the accepted
/// events, who may send requests.
fn log_sip_changes(previous: &SipSettings, sip: &SipSettings, by: &str) {
    if previous.events != sip.events || previous.event_match != sip.event_match {
        tracing::info!(
            target: LOG_TARGET,
            events = ?sip.events,
            "accepting NOTIFY with Event {} (changed by {by})",
            sip.matcher().allow_events()
        );
    }
    if previous.allow != sip.allow || previous.refused != sip.refused {
        crate::agent::log_allowlist(sip);
    }
}
