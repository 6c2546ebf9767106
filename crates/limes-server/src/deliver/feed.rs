//! One subscriber's feed: the current picture, then every change, each released for one
//! organisation (and filtered by kind); a subscriber that falls behind is told how much it
//! missed. Every stream delivery (SSE, CoT) reads one of these.

use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::release::{DataKind, Item, Policy, Released};

/// What a feed yields.
#[derive(Debug)]
pub enum Delivery {
    /// An item released to the organisation.
    Item(Box<Released>),
    /// The subscriber fell behind and missed this many changes.
    Lagged(u64),
}

/// A released view of the hub for one organisation.
pub struct Feed {
    org: String,
    kinds: Vec<DataKind>,
    policy: Arc<Policy>,
    snapshot: VecDeque<Item>,
    rx: broadcast::Receiver<Item>,
    metrics: Metrics,
}

impl Feed {
    /// Subscribes to the hub for `org`, starting with the picture at clock time `now`.
    pub fn new(
        hub: &Hub,
        policy: Arc<Policy>,
        org: String,
        kinds: Vec<DataKind>,
        now: f64,
        metrics: Metrics,
    ) -> Self {
        let (snapshot, rx) = hub.subscribe_with_snapshot(now);
        Self {
            org,
            kinds,
            policy,
            snapshot: snapshot.into(),
            rx,
            metrics,
        }
    }

    fn release(&self, item: &Item) -> Option<Released> {
        if !self.kinds.contains(&item.kind()) {
            return None;
        }
        self.policy.release(&self.org, item)
    }

    /// The next delivery; `None` once the hub is gone.
    pub async fn next(&mut self) -> Option<Delivery> {
        while let Some(item) = self.snapshot.pop_front() {
            if let Some(r) = self.release(&item) {
                return Some(Delivery::Item(Box::new(r)));
            }
        }
        loop {
            match self.rx.recv().await {
                Ok(item) => {
                    if let Some(r) = self.release(&item) {
                        return Some(Delivery::Item(Box::new(r)));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.metrics.lagged.inc_by(n);
                    return Some(Delivery::Lagged(n));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
