//! CAP 1.2 (OASIS Common Alerting Protocol) messages, built only from what the release policy
//! gave the receiving organisation: its opaque alert id, the released fields, position and
//! radius. Which message type a revision is, and what it references, is decided per
//! organisation by [`super::sequence`].

use crate::xml::escape;
use limes_core::record::{Severity, Time};
use limes_core::site::{Detail, Org};
use std::fmt::Write;

use crate::release::{AlertOut, Released};

/// The CAP message type of one message in an organisation's sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MsgType {
    /// The first message the organisation received about the alert.
    Alert,
    /// A later revision; references the organisation's `Alert`.
    Update,
    /// The alert is over (closed by the rules or resolved by an operator).
    Cancel,
}

impl MsgType {
    /// The CAP name of the type.
    pub fn name(&self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
        }
    }
}

/// A message to write: the released revision, its type and time, and the organisation's
/// earlier messages about the alert, which it references.
pub struct Message<'a> {
    /// Site name (sender and identifiers).
    pub site: &'a str,
    /// The receiving organisation.
    pub org: &'a Org,
    /// The revision as released.
    pub released: &'a Released,
    /// Its type in the organisation's sequence.
    pub msg_type: MsgType,
    /// When it was sent.
    pub sent: Time,
    /// Revision, type and `sent` time of each earlier message of the organisation's sequence,
    /// in order: an Update or Cancel references them all (CAP 1.2: it supersedes or cancels
    /// the messages it references, and none of these expires).
    pub earlier: &'a [(u32, MsgType, Time)],
    /// `Exercise` instead of `Actual`: the server runs on a drill clock.
    pub exercise: bool,
    /// The facility perimeter `[[lon, lat], …]`, for facility alerts released in full.
    pub perimeter: Option<&'a [[f64; 2]]>,
}

/// CAP `dateTime`: seconds, UTC written `-00:00` as CAP 1.2 §3.3.2 asks (the schema refuses
/// `Z`).
fn cap_time(t: Time) -> String {
    let secs = t.0.floor() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S-00:00")
        .to_string()
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Extreme",
        Severity::High => "Severe",
        Severity::Medium => "Moderate",
        Severity::Low => "Minor",
    }
}

fn urgency(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "Immediate",
        Severity::Medium => "Expected",
        Severity::Low => "Future",
    }
}

/// The identifier of an organisation's message about revision `rev` of an alert.
pub fn identifier(site: &str, org: &str, alert: &str, rev: u32, msg: &MsgType) -> String {
    let base = format!("limes.{site}.{alert}.r{rev}.{org}");
    if *msg == MsgType::Cancel {
        format!("{base}.cancel")
    } else {
        base
    }
}

/// What a message says in words, written alike in CAP and in the feed.
pub struct Words {
    /// The event (`mass breakout`).
    pub event: String,
    /// The headline: the event and its count.
    pub headline: String,
    /// The description: the summary the organisation is released.
    pub description: String,
}

/// The words of a released alert.
pub fn words(out: &AlertOut) -> Words {
    let s = out.summary();
    let event = s.kind.name().replace('_', " ");
    Words {
        headline: format!("{event}: {}", s.count),
        description: match out {
            AlertOut::Full(f) => f.view.alert.summary.clone(),
            _ => s.summary.clone(),
        },
        event,
    }
}

/// Writes the CAP XML of one message.
pub fn message(m: &Message<'_>) -> Option<String> {
    let crate::release::Out::Alert(out) = &m.released.out else {
        return None;
    };
    let s = out.summary();
    let sender = format!("limes@{}", m.site);
    let id = identifier(m.site, &m.org.id, &s.id, s.rev, &m.msg_type);
    let e = |v: &str| escape(v).into_owned();
    let mut x = String::with_capacity(2048);
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n\
         <identifier>{}</identifier>\n<sender>{}</sender>\n<sent>{}</sent>\n<status>{}</status>\n<msgType>{}</msgType>\n",
        e(&id),
        e(&sender),
        cap_time(m.sent),
        if m.exercise { "Exercise" } else { "Actual" },
        m.msg_type.name()
    );
    if m.released.detail == Detail::Full {
        let _ = write!(
            x,
            "<scope>Restricted</scope>\n<restriction>{}</restriction>\n",
            e(&format!(
                "Released to {} under the Limes release policy of site {}; do not pass on",
                m.org.name, m.site
            ))
        );
    } else {
        let _ = write!(
            x,
            "<scope>Private</scope>\n<addresses>{}</addresses>\n",
            e(&m.org.id)
        );
    }
    if m.msg_type != MsgType::Alert && !m.earlier.is_empty() {
        let refs: Vec<String> = m
            .earlier
            .iter()
            .map(|(rev, t, sent)| {
                let id = identifier(m.site, &m.org.id, &s.id, *rev, t);
                format!("{},{},{}", e(&sender), e(&id), cap_time(*sent))
            })
            .collect();
        let _ = writeln!(x, "<references>{}</references>", refs.join(" "));
    }
    let Words {
        event,
        headline,
        description,
    } = words(out);
    let cancel = m.msg_type == MsgType::Cancel;
    let _ = write!(
        x,
        "<info>\n<language>en</language>\n<category>Security</category>\n<event>{}</event>\n\
         <urgency>{}</urgency>\n<severity>{}</severity>\n<certainty>{}</certainty>\n\
         <senderName>Limes, site {}</senderName>\n<headline>{}</headline>\n<description>{}</description>\n",
        e(&event),
        if cancel { "Past" } else { urgency(s.severity) },
        severity(s.severity),
        if m.released.detail == Detail::Full { "Observed" } else { "Likely" },
        e(m.site),
        e(&headline),
        e(&description),
    );
    for (name, value) in [
        ("limesAlertId", s.id.clone()),
        ("limesRevision", s.rev.to_string()),
        ("count", s.count.to_string()),
        ("status", s.status.name().to_string()),
    ] {
        let _ = writeln!(
            x,
            "<parameter><valueName>{name}</valueName><value>{}</value></parameter>",
            e(&value)
        );
    }
    let desc = s
        .facility
        .clone()
        .or(s.sector.clone())
        .unwrap_or_else(|| "Limes alert area".into());
    let _ = write!(x, "<area>\n<areaDesc>{}</areaDesc>\n", e(&desc));
    if let (Detail::Full, Some(ring)) = (m.released.detail, m.perimeter) {
        let _ = writeln!(x, "<polygon>{}</polygon>", polygon(ring));
    }
    if let Some(p) = m.released.pos {
        let _ = writeln!(
            x,
            "<circle>{:.5},{:.5} {:.2}</circle>",
            p.lat,
            p.lon,
            m.released.radius_m / 1000.0
        );
    }
    x.push_str("</area>\n</info>\n</alert>\n");
    Some(x)
}

/// A facility perimeter as a CAP polygon (`lat,lon` pairs, closed).
pub fn polygon(ring: &[[f64; 2]]) -> String {
    ring.iter()
        .map(|p| format!("{:.5},{:.5}", p[1], p[0]))
        .collect::<Vec<_>>()
        .join(" ")
}
