//! The server's health as `/readyz` reports it: replaying, ready, or failed (a stopped engine
//! or writer thread, with the reason), and the systematic problems that make it not ready
//! (the engine refusing most records, the store failing to commit); sensors that flood are named beside it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;

/// Where the server is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Replaying the log at start-up.
    Replaying,
    /// Taking input.
    Ready,
    /// A thread the server cannot run without has stopped; the reason.
    Failed(String),
}

/// Records the engine's recent refusals are judged over.
const REFUSAL_WINDOW: usize = 1000;

/// Shared health; cheap to clone.
#[derive(Clone)]
pub struct Health {
    state: Arc<watch::Sender<State>>,
    /// Last log sequence number the engine has processed.
    pub processed: Arc<AtomicI64>,
    recent: Arc<Mutex<VecDeque<bool>>>,
    flooding: Arc<Mutex<BTreeSet<String>>>,
    writer: Arc<OnceLock<Arc<crate::store::WriterStatus>>>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Replaying, nothing refused.
    pub fn new() -> Self {
        Self {
            state: Arc::new(watch::channel(State::Replaying).0),
            processed: Arc::new(AtomicI64::new(0)),
            recent: Default::default(),
            flooding: Default::default(),
            writer: Default::default(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state.borrow().clone()
    }

    /// True when input is taken.
    pub fn is_ready(&self) -> bool {
        *self.state.borrow() == State::Ready
    }

    /// Marks the log replayed.
    pub fn set_ready(&self) {
        self.state.send_if_modified(|s| {
            let change = *s == State::Replaying;
            if change {
                *s = State::Ready;
            }
            change
        });
    }

    /// Marks the server failed (the first reason stays).
    pub fn fail(&self, reason: String) {
        self.state.send_if_modified(|s| {
            let change = !matches!(s, State::Failed(_));
            if change {
                *s = State::Failed(reason);
            }
            change
        });
    }

    /// Waits until the replay is over: `Ok` when ready, the reason when it failed.
    pub async fn wait_started(&self) -> Result<(), String> {
        let mut rx = self.state.subscribe();
        let s = rx
            .wait_for(|s| *s != State::Replaying)
            .await
            .map(|s| s.clone())
            .unwrap_or(State::Failed("health channel closed".into()));
        match s {
            State::Failed(r) => Err(r),
            _ => Ok(()),
        }
    }

    /// Waits until the server fails; returns the reason.
    pub async fn wait_failed(&self) -> String {
        let mut rx = self.state.subscribe();
        let s = rx
            .wait_for(|s| matches!(s, State::Failed(_)))
            .await
            .map(|s| s.clone());
        match s {
            Ok(State::Failed(r)) => r,
            Ok(_) => String::new(),
            Err(_) => "health channel closed".into(),
        }
    }

    /// Reports the store's writer as a problem while its transactions fail.
    pub fn watch_writer(&self, status: Arc<crate::store::WriterStatus>) {
        let _ = self.writer.set(status);
    }

    /// Notes whether the engine took (`true`) or refused a logged record.
    pub fn engine_took(&self, took: bool) {
        if let Ok(mut r) = self.recent.lock() {
            r.push_back(took);
            if r.len() > REFUSAL_WINDOW {
                r.pop_front();
            }
        }
    }

    /// Sets the sensors the tracker reports as flooding; returns those newly flagged and those
    /// no longer flagged.
    pub fn set_flooding(&self, now: BTreeSet<String>) -> (Vec<String>, Vec<String>) {
        let Ok(mut f) = self.flooding.lock() else {
            return (vec![], vec![]);
        };
        let new = now.difference(&f).cloned().collect();
        let gone = f.difference(&now).cloned().collect();
        *f = now;
        (new, gone)
    }

    /// Sensors flagged as flooding.
    pub fn flooding(&self) -> Vec<String> {
        self.flooding
            .lock()
            .map(|f| f.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Why the server is not ready, if it is not.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.state() {
            State::Replaying => out.push("replaying the log".to_string()),
            State::Failed(r) => out.push(r),
            State::Ready => {}
        }
        if let Some(p) = self.writer.get().and_then(|w| w.problem()) {
            out.push(p);
        }
        if let Ok(r) = self.recent.lock() {
            let refused = r.iter().filter(|t| !**t).count();
            if r.len() >= 100 && refused * 2 > r.len() {
                out.push(format!(
                    "the engine refused {refused} of the last {} logged records",
                    r.len()
                ));
            }
        }
        out
    }

    /// The last log sequence number the engine processed.
    pub fn processed(&self) -> i64 {
        self.processed.load(Ordering::SeqCst)
    }
}
