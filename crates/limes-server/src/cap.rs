//! CAP 1.2 (OASIS Common Alerting Protocol) messages for alerts, built from what the release
//! policy gives the receiving organisation: the first revision is an `Alert`, later ones an
//! `Update`, and a closed or resolved alert a `Cancel`, each referencing the first message.

use limes_core::record::{AlertState, Severity, Time};
use limes_core::site::{Detail, Org};
use quick_xml::escape::escape;
use std::fmt::Write;

use crate::release::{AlertView, Lifecycle, Released};

/// CAP `dateTime`: seconds, explicit `+00:00` offset (the schema refuses `Z`).
fn cap_time(t: Time) -> String {
    let secs = t.0.floor() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
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

/// The CAP message for `view` as released to `org` (`released` is the policy's output). A
/// facility alert released in full carries the facility's `perimeter` as its polygon.
pub fn message(
    site: &str,
    org: &Org,
    view: &AlertView,
    released: &Released,
    perimeter: Option<&[[f64; 2]]>,
) -> String {
    let a = &view.alert;
    let sender = format!("limes@{site}");
    let ident = |rev: u32| format!("limes.{site}.alert{}.r{rev}.{}", a.id, org.id);
    let cancel = a.state == AlertState::Closed || view.status == Lifecycle::Resolved;
    let (msg_type, identifier) = if cancel {
        ("Cancel", format!("{}.cancel", ident(a.rev)))
    } else if a.rev <= 1 {
        ("Alert", ident(1))
    } else {
        ("Update", ident(a.rev))
    };
    let sent = if msg_type == "Alert" {
        a.raised
    } else {
        a.time
    };
    let e = |s: &str| escape(s).into_owned();
    let mut x = String::with_capacity(2048);
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n\
         <identifier>{}</identifier>\n<sender>{}</sender>\n<sent>{}</sent>\n<status>Actual</status>\n<msgType>{msg_type}</msgType>\n",
        e(&identifier),
        e(&sender),
        cap_time(sent)
    );
    if released.detail == Detail::Full {
        let _ = write!(
            x,
            "<scope>Restricted</scope>\n<restriction>{}</restriction>\n",
            e(&format!(
                "Released to {} under the Limes release policy of site {site}; do not pass on",
                org.name
            ))
        );
    } else {
        let _ = write!(
            x,
            "<scope>Private</scope>\n<addresses>{}</addresses>\n",
            e(&org.id)
        );
    }
    if msg_type != "Alert" {
        let _ = writeln!(
            x,
            "<references>{},{},{}</references>",
            e(&sender),
            e(&ident(1)),
            cap_time(a.raised)
        );
    }
    let b = &released.body;
    let text = |k: &str| b[k].as_str().unwrap_or_default().to_string();
    let event = a.kind.name().replace('_', " ");
    let _ = write!(
        x,
        "<info>\n<language>en</language>\n<category>Security</category>\n<event>{}</event>\n\
         <urgency>{}</urgency>\n<severity>{}</severity>\n<certainty>{}</certainty>\n\
         <senderName>Limes, site {}</senderName>\n<headline>{}</headline>\n<description>{}</description>\n",
        e(&event),
        if cancel { "Past" } else { urgency(a.severity) },
        severity(a.severity),
        if released.detail == Detail::Full { "Observed" } else { "Likely" },
        e(site),
        e(&format!("{event}: {}", a.count)),
        e(&text("summary")),
    );
    for (name, value) in [
        ("limesAlertId", a.id.to_string()),
        ("limesRevision", a.rev.to_string()),
        ("count", a.count.to_string()),
        ("status", crate::snake(&view.status)),
    ] {
        let _ = writeln!(
            x,
            "<parameter><valueName>{name}</valueName><value>{}</value></parameter>",
            e(&value)
        );
    }
    let desc = a
        .facility
        .clone()
        .or(a.sector.clone())
        .unwrap_or_else(|| "Limes alert area".into());
    let _ = write!(x, "<area>\n<areaDesc>{}</areaDesc>\n", e(&desc));
    if let (Detail::Full, Some(ring)) = (released.detail, perimeter) {
        let _ = writeln!(x, "<polygon>{}</polygon>", polygon(ring));
    }
    if let Some(p) = released.pos {
        let radius_km = match released.detail {
            Detail::Full => 0.5,
            _ => org.coarsen_m * 0.75 / 1000.0,
        };
        let _ = writeln!(
            x,
            "<circle>{:.5},{:.5} {radius_km:.2}</circle>",
            p.lat, p.lon
        );
    }
    x.push_str("</area>\n</info>\n</alert>\n");
    x
}

/// A facility perimeter as a CAP polygon (`lat,lon` pairs, closed).
pub fn polygon(ring: &[[f64; 2]]) -> String {
    ring.iter()
        .map(|p| format!("{:.5},{:.5}", p[1], p[0]))
        .collect::<Vec<_>>()
        .join(" ")
}
