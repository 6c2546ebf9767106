//! A delivery session (an event stream or a CoT client): opening and closing are audited with
//! counts of what was delivered (tracks, facilities, assessed events), and every alert
//! delivered is audited as it goes.

use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::{AuditDraft, AuditSink};
use crate::metrics::Metrics;
use crate::release::{DataKind, Released};

/// One open delivery; closing (drop) writes its summary.
pub struct Session {
    audit: AuditSink,
    metrics: Metrics,
    actor: String,
    channel: &'static str,
    tracks: AtomicU64,
    facilities: AtomicU64,
    events: AtomicU64,
}

impl Session {
    /// Opens a session (audited).
    pub async fn open(
        audit: AuditSink,
        metrics: Metrics,
        actor: String,
        channel: &'static str,
    ) -> Self {
        audit
            .send(AuditDraft::new(
                actor.clone(),
                "stream.open",
                format!("stream/{channel}"),
                json!({}),
            ))
            .await;
        metrics.connections.inc();
        Self {
            audit,
            metrics,
            actor,
            channel,
            tracks: AtomicU64::new(0),
            facilities: AtomicU64::new(0),
            events: AtomicU64::new(0),
        }
    }

    /// Notes one delivered item; an alert is audited (waiting if the audit queue is full).
    pub async fn delivered(&self, r: &Released) {
        match r.kind() {
            DataKind::Track => {
                self.tracks.fetch_add(1, Ordering::Relaxed);
            }
            DataKind::Facility => {
                self.facilities.fetch_add(1, Ordering::Relaxed);
            }
            DataKind::Event => {
                self.events.fetch_add(1, Ordering::Relaxed);
            }
            DataKind::Alert => {
                let rev = match &r.out {
                    crate::release::Out::Alert(a) => a.rev(),
                    _ => 0,
                };
                self.audit
                    .send(AuditDraft::new(
                        self.actor.clone(),
                        "deliver.alert",
                        format!("alert/{}", r.out.id()),
                        json!({ "rev": rev, "detail": r.detail, "channel": self.channel }),
                    ))
                    .await
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.metrics.connections.dec();
        self.audit.send_now(AuditDraft::new(
            self.actor.clone(),
            "stream.close",
            format!("stream/{}", self.channel),
            json!({
                "tracks": self.tracks.load(Ordering::Relaxed),
                "facilities": self.facilities.load(Ordering::Relaxed),
                "events": self.events.load(Ordering::Relaxed),
            }),
        ));
    }
}
