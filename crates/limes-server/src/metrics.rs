//! Prometheus metrics, served at `/metrics`.

use limes_core::record::EventRecord;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Labels of the assessed-event counter: what raised the alarm and why it was kept from the
/// operators (both closed sets; no organisation, sensor or position).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `fence_climb`, `fence_vibration` or `approach`.
    pub source: &'static str,
    /// The assessment's reason (`nothing_seen`, `animals`, `herd`, `turned_back`, `vibration`).
    pub reason: &'static str,
}

/// The server's counters, gauges and histograms; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Records accepted and made durable.
    pub ingest_records: Counter,
    /// Records refused as invalid.
    pub ingest_rejected: Counter,
    /// Requests refused because the ingest queue was full.
    pub ingest_throttled: Counter,
    /// Requests refused with 429 because their body found no room in a body budget.
    pub bodies_refused: Counter,
    /// CAP feed reads refused with 429: the organisation's previous one was still being built.
    pub feed_reads_refused: Counter,
    /// Records the engine has processed.
    pub engine_records: Counter,
    /// Records the engine refused (should stay 0: the log holds checked records).
    pub engine_refused: Counter,
    /// Alert revisions produced.
    pub alert_revisions: Counter,
    /// Assessed events decided (each once: not again when the start-up replay decides it anew).
    pub assessed_events: Family<EventLabels, Counter>,
    /// Detections the tracker dropped for arriving later than its reorder window.
    pub late_dropped: Gauge,
    /// Live tracks.
    pub live_tracks: Gauge,
    /// Open stream and CoT connections.
    pub connections: Gauge,
    /// Items dropped for slow subscribers.
    pub lagged: Counter,
    /// TAK client events not relayed: not the client's own position, or over its rate.
    pub relay_refused: Counter,
    /// Seconds from a batch's arrival to the engine having processed it (durable commit included).
    pub pipeline_seconds: Histogram,
    /// Webhook deliveries made.
    pub webhook_delivered: Counter,
    /// Webhook attempts that failed.
    pub webhook_failed: Counter,
    /// Detections refused because they came later than the tracker's reorder window allows.
    pub engine_late: Counter,
    /// CoT connections refused (authentication, identity, first event).
    pub cot_refused: Counter,
    /// Connections refused because a listener's cap was reached.
    pub connections_refused: Counter,
    /// TAK enrolment attempts refused (credentials, lockout, a code used meanwhile).
    pub enroll_refused: Counter,
    /// Sensors the tracker reports as flooding.
    pub flooding_sensors: Gauge,
    /// Tracks the tracker shed (or did not start) at its caps.
    pub tracks_shed: Gauge,
    /// Detections of flooding sensors that were not allowed to start tracks.
    pub flood_refused: Gauge,
    /// Entries covered by the last audit checkpoint signed.
    pub audit_checkpoint_size: Gauge,
    /// Audit checkpoints that could not be signed (the log does not extend the last one, or
    /// the store failed).
    pub audit_checkpoint_failed: Counter,
    /// The store's transactions that failed (nothing of them stored).
    pub store_commit_failed: Counter,
    /// The engine's writes the store refused for their content, dropped.
    pub store_writes_dropped: Counter,
    /// Rows the console's history could not keep (its writer behind, or a lagging feed).
    pub history_dropped: Counter,
    /// CoT peers cut for not reading (their feed's queue full, or a write waiting 30 s).
    pub cot_slow_clients: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        Self::with_writer(&crate::store::WriterStatus::default())
    }

    /// Registers every metric, the store's counting `writer`'s own counters.
    pub fn with_writer(writer: &crate::store::WriterStatus) -> Self {
        let mut r = Registry::with_prefix("limes");
        let m = Self {
            registry: Arc::new(Registry::default()),
            ingest_records: Counter::default(),
            ingest_rejected: Counter::default(),
            ingest_throttled: Counter::default(),
            bodies_refused: Counter::default(),
            feed_reads_refused: Counter::default(),
            engine_records: Counter::default(),
            engine_refused: Counter::default(),
            alert_revisions: Counter::default(),
            assessed_events: Family::default(),
            late_dropped: Gauge::default(),
            live_tracks: Gauge::default(),
            connections: Gauge::default(),
            lagged: Counter::default(),
            relay_refused: Counter::default(),
            pipeline_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            webhook_delivered: Counter::default(),
            webhook_failed: Counter::default(),
            engine_late: Counter::default(),
            cot_refused: Counter::default(),
            connections_refused: Counter::default(),
            enroll_refused: Counter::default(),
            flooding_sensors: Gauge::default(),
            tracks_shed: Gauge::default(),
            flood_refused: Gauge::default(),
            audit_checkpoint_size: Gauge::default(),
            audit_checkpoint_failed: Counter::default(),
            store_commit_failed: writer.failed.clone(),
            store_writes_dropped: writer.dropped.clone(),
            history_dropped: Counter::default(),
            cot_slow_clients: Counter::default(),
        };
        r.register(
            "ingest_records",
            "Sensor records accepted and durable",
            m.ingest_records.clone(),
        );
        r.register(
            "ingest_rejected",
            "Sensor records refused as invalid",
            m.ingest_rejected.clone(),
        );
        r.register(
            "ingest_throttled",
            "Ingest requests refused with 429 (queue full)",
            m.ingest_throttled.clone(),
        );
        r.register(
            "bodies_refused",
            "Requests refused with 429: no room for their body in their credential's or organisation's share",
            m.bodies_refused.clone(),
        );
        r.register(
            "feed_reads_refused",
            "CAP feed reads refused with 429: the organisation's previous one was still being built",
            m.feed_reads_refused.clone(),
        );
        r.register(
            "engine_records",
            "Records processed by the tracker and rules",
            m.engine_records.clone(),
        );
        r.register(
            "engine_refused",
            "Records the engine refused",
            m.engine_refused.clone(),
        );
        r.register(
            "alert_revisions",
            "Alert revisions produced",
            m.alert_revisions.clone(),
        );
        r.register(
            "assessed_events",
            "Alarms assessed and kept from the operators as events, by source and reason",
            m.assessed_events.clone(),
        );
        r.register(
            "live_tracks",
            "Tracks held by the tracker",
            m.live_tracks.clone(),
        );
        r.register(
            "connections",
            "Open stream and CoT connections",
            m.connections.clone(),
        );
        r.register(
            "lagged",
            "Items skipped for subscribers that fell behind",
            m.lagged.clone(),
        );
        r.register(
            "cot_relay_refused",
            "TAK client events not relayed (not the client's own position, or over its rate)",
            m.relay_refused.clone(),
        );
        r.register(
            "pipeline_seconds",
            "Seconds from a batch's arrival to the engine having processed it",
            m.pipeline_seconds.clone(),
        );
        r.register(
            "webhook_delivered",
            "Webhook deliveries acknowledged by the receiver",
            m.webhook_delivered.clone(),
        );
        r.register(
            "webhook_failed",
            "Webhook attempts that failed",
            m.webhook_failed.clone(),
        );
        r.register(
            "late_refused",
            "Detections refused at ingest: later than the tracker's reorder window allows",
            m.engine_late.clone(),
        );
        r.register(
            "cot_refused",
            "CoT connections refused (credential, identity, first event)",
            m.cot_refused.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused because a listener's cap was reached",
            m.connections_refused.clone(),
        );
        r.register(
            "enroll_refused",
            "TAK enrolment attempts refused (credentials, lockout)",
            m.enroll_refused.clone(),
        );
        r.register(
            "flooding_sensors",
            "Sensors the tracker reports as flooding",
            m.flooding_sensors.clone(),
        );
        r.register(
            "tracks_shed",
            "Tracks the tracker shed, or did not start, at its caps",
            m.tracks_shed.clone(),
        );
        r.register(
            "flood_refused",
            "Detections of flooding sensors not allowed to start tracks",
            m.flood_refused.clone(),
        );
        r.register(
            "audit_checkpoint_size",
            "Audit entries covered by the last signed checkpoint",
            m.audit_checkpoint_size.clone(),
        );
        r.register(
            "audit_checkpoint_failed",
            "Audit checkpoints not signed (the log does not extend the last one, or the store failed)",
            m.audit_checkpoint_failed.clone(),
        );
        r.register(
            "store_commit_failed",
            "Store transactions that failed: nothing of them stored, input refused with 503 until one commits",
            m.store_commit_failed.clone(),
        );
        r.register(
            "store_writes_dropped",
            "Alert revisions and events the store refused for their content (a constraint), dropped",
            m.store_writes_dropped.clone(),
        );
        r.register(
            "history_dropped",
            "Rows the console's history could not keep (its writer behind, or a lagging feed)",
            m.history_dropped.clone(),
        );
        r.register(
            "cot_slow_clients",
            "CoT peers cut for not reading (their feed's queue full, or a write waiting 30 s)",
            m.cot_slow_clients.clone(),
        );
        r.register(
            "late_dropped",
            "Detections the tracker dropped as late (should stay 0: ingest refuses them)",
            m.late_dropped.clone(),
        );
        Self {
            registry: Arc::new(r),
            ..m
        }
    }

    /// Counts one assessed event.
    pub fn assessed_event(&self, e: &EventRecord) {
        self.assessed_events
            .get_or_create(&EventLabels {
                source: e.source.name(),
                reason: e.assessment.reason.name(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }
}

/// Rewrites the OpenMetrics text into the classic Prometheus text format (0.0.4): counters are
/// typed under their `_total` sample name, `# UNIT`, `_created` samples, exemplars and `# EOF`
/// go, so a classic parser types every sample as the registry does.
pub fn to_classic(open: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in open.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_string());
            }
        }
    }
    let mut out = String::with_capacity(open.len());
    for l in open.lines() {
        if l == "# EOF" || l.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = l
            .strip_prefix("# TYPE ")
            .or_else(|| l.strip_prefix("# HELP "))
        {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = &l[..7];
            let tail = if kind == "# TYPE " && tail == "unknown" {
                "untyped"
            } else {
                tail
            };
            if counters.contains(name) {
                out.push_str(&format!("{kind}{name}_total {tail}\n"));
            } else {
                out.push_str(&format!("{kind}{name} {tail}\n"));
            }
            continue;
        }
        let name = l.split(['{', ' ']).next().unwrap_or("");
        if name
            .strip_suffix("_created")
            .is_some_and(|n| counters.contains(n))
        {
            continue;
        }
        // Exemplars (` # {…} …`) are OpenMetrics only.
        let sample = l.split(" # ").next().unwrap_or(l);
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn classic_text_types_counters_under_their_sample_names() {
        let m = super::Metrics::new();
        m.ingest_records.inc_by(3);
        let classic = super::to_classic(&m.render());
        assert!(classic.contains("# TYPE limes_ingest_records_total counter\n"));
        assert!(classic.contains("\nlimes_ingest_records_total 3\n"));
        assert!(!classic.contains("# EOF"));
        assert!(classic.contains("# TYPE limes_live_tracks gauge\n"));
    }
}
