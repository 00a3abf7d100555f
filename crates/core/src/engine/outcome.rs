//! What starts a run ([`Cause`]) and what a run reports ([`Outcome`]).

use std::fmt;
use std::net::SocketAddr;

use jiff::Timestamp;

use super::RunError;
use crate::resync::{ResyncRequest, Transport};

/// Why a provisioning run happens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The agent started.
    Startup,
    /// A timed poll of the schedule came due.
    Schedule {
        /// The rule, e.g. `snom-abs daily 09:00`.
        rule: String,
    },
    /// A retry after a failed run came due.
    Retry {
        /// The retry rule, e.g. `panasonic-retry 30min`.
        rule: String,
    },
    /// An accepted check-sync NOTIFY.
    Notify {
        /// Who sent it.
        source: SocketAddr,
        /// Over which transport.
        transport: Transport,
        /// Its event token.
        event: String,
        /// Its `reboot` parameter, when it had one.
        reboot: Option<bool>,
    },
    /// A call of the embedding application.
    Manual {
        /// Free text for logs.
        reason: String,
    },
}

impl Cause {
    /// The cause a NOTIFY's resync request carries.
    pub fn from_request(req: &ResyncRequest) -> Cause {
        Cause::Notify {
            source: req.source,
            transport: req.transport,
            event: req.event.clone(),
            reboot: req.reboot,
        }
    }

    /// One word: `startup`, `schedule`, `retry`, `notify`, `manual`.
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::Startup => "startup",
            Cause::Schedule { .. } => "schedule",
            Cause::Retry { .. } => "retry",
            Cause::Notify { .. } => "notify",
            Cause::Manual { .. } => "manual",
        }
    }

    /// The reboot wish a NOTIFY expressed; `None` for other causes.
    pub fn reboot_wish(&self) -> Option<bool> {
        match self {
            Cause::Notify { reboot, .. } => *reboot,
            _ => None,
        }
    }

    /// Whether a run for this cause draws from the run budget: NOTIFYs and the application's
    /// calls do; start-up, timed polls and retries, which the agent paces itself, do not.
    pub fn draws_budget(&self) -> bool {
        matches!(self, Cause::Notify { .. } | Cause::Manual { .. })
    }

    /// Whether a configured random delay applies before the run (start-up and NOTIFY).
    pub fn is_spread(&self) -> bool {
        matches!(self, Cause::Startup | Cause::Notify { .. })
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Startup => f.write_str("startup"),
            Cause::Schedule { rule } => write!(f, "schedule ({rule})"),
            Cause::Retry { rule } => write!(f, "retry ({rule})"),
            Cause::Notify {
                source,
                transport,
                event,
                ..
            } => write!(
                f,
                "notify {} from {transport}:{source}",
                crate::escape::excerpt(event.as_bytes())
            ),
            Cause::Manual { reason } => {
                write!(f, "manual ({})", crate::escape::excerpt(reason.as_bytes()))
            }
        }
    }
}

/// Triggers merged into one run: the first cause, how many in all, and the reboot wish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Causes {
    /// The trigger that opened the run.
    pub first: Cause,
    /// Triggers merged into the run, the first included.
    pub count: u64,
    /// The merged NOTIFY reboot wish: `true` if any asked for a reboot, else `false` if
    /// any asked for none, else `None`.
    pub reboot_wish: Option<bool>,
}

impl Causes {
    /// A run opened by `cause`.
    pub fn new(cause: Cause) -> Causes {
        Causes {
            reboot_wish: cause.reboot_wish(),
            first: cause,
            count: 1,
        }
    }

    /// Merges another trigger into the run.
    pub fn merge(&mut self, cause: &Cause) {
        self.count = self.count.saturating_add(1);
        self.reboot_wish = merge_wish(self.reboot_wish, cause.reboot_wish());
    }

    /// Merges a whole group, its reboot wish included.
    pub fn absorb(&mut self, other: Causes) {
        self.count = self.count.saturating_add(other.count);
        self.reboot_wish = merge_wish(self.reboot_wish, other.reboot_wish);
    }
}

/// `true` if either asked for a reboot, else `false` if either asked for none, else `None`.
fn merge_wish(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        (None, None) => None,
    }
}

/// One changed file of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Local name.
    pub name: String,
    /// SHA-256 of the previous content (hex); `None` if the file is new.
    pub old_digest: Option<String>,
    /// SHA-256 of the new content (hex); `None` if the file was removed from the set.
    pub new_digest: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunResult {
    /// A new set was applied.
    Updated {
        /// The files that changed.
        files: Vec<FileChange>,
        /// Whether the agent's own settings (event, schedule) changed with it.
        settings_changed: bool,
    },
    /// Every file is as applied before.
    Unchanged,
    /// Nothing was applied; the last good set stays.
    Failed {
        /// The file that failed, if one did.
        file: Option<String>,
        /// What went wrong.
        error: RunError,
        /// When the next attempt is due.
        next_retry: Option<Timestamp>,
    },
}

impl RunResult {
    /// `updated`, `unchanged` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunResult::Updated { .. } => "updated",
            RunResult::Unchanged => "unchanged",
            RunResult::Failed { .. } => "failed",
        }
    }
}

/// The report of one run, broadcast to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Run number, from 1.
    pub run: u64,
    /// The trigger that opened the run.
    pub cause: Cause,
    /// Triggers merged into the run, the first included.
    pub coalesced: u64,
    /// When the run started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// What it did.
    pub result: RunResult,
    /// Whether the embedding application should reboot (see
    /// [`RebootPolicy`](crate::config::RebootPolicy)).
    pub reboot_requested: bool,
    /// The next timed poll, if any.
    pub next_poll: Option<Timestamp>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run {} ({}): ", self.run, self.cause)?;
        match &self.result {
            RunResult::Updated {
                files,
                settings_changed,
            } => {
                let names: Vec<&str> = files.iter().map(|c| c.name.as_str()).collect();
                write!(f, "updated {}", names.join(", "))?;
                if *settings_changed {
                    f.write_str(", agent settings changed")?;
                }
            }
            RunResult::Unchanged => f.write_str("unchanged")?,
            RunResult::Failed {
                file,
                error,
                next_retry,
            } => {
                f.write_str("failed")?;
                if let Some(file) = file {
                    write!(f, " on {file}")?;
                }
                write!(f, ": {error}")?;
                match next_retry {
                    Some(t) => write!(f, "; retry at {t}")?,
                    None => f.write_str("; no retry scheduled")?,
                }
            }
        }
        if self.reboot_requested {
            f.write_str("; reboot requested")?;
        }
        Ok(())
    }
}
