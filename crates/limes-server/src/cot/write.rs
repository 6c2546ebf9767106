//! Writes CoT events for TAK clients from released items: tracks (`a-u-G`, or `a-h-G` when
//! part of an intrusion alert), alerts (`b-a-g` for intrusions, `b-a-o-c` otherwise, with
//! `<emergency>`; `b-a-o-can` once closed or resolved), facilities, and the ping reply.

use quick_xml::escape::escape;
use serde_json::Value;

use crate::release::{DataKind, Released};

/// Seconds a track event stays fresh on a TAK map.
pub const TRACK_STALE_S: f64 = 30.0;

/// Seconds an alert event stays fresh (it is refreshed with every revision).
pub const ALERT_STALE_S: f64 = 3600.0;

fn iso(t: f64) -> String {
    let secs = t.floor() as i64;
    let nanos = ((t - t.floor()) * 1e9) as u32;
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[allow(clippy::too_many_arguments)]
fn event(
    uid: &str,
    kind: &str,
    how: &str,
    t: f64,
    stale: f64,
    lat: f64,
    lon: f64,
    ce: f64,
    detail: &str,
) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<event version=\"2.0\" uid=\"{}\" type=\"{kind}\" how=\"{how}\" time=\"{}\" start=\"{}\" stale=\"{}\"><point lat=\"{lat:.6}\" lon=\"{lon:.6}\" hae=\"9999999.0\" ce=\"{ce:.1}\" le=\"9999999.0\"/><detail>{detail}</detail></event>\n",
        escape(uid),
        iso(t),
        iso(t),
        iso(stale)
    )
}

fn time_of(b: &Value) -> f64 {
    b["time"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_micros() as f64 / 1e6)
        .unwrap_or(0.0)
}

/// The CoT event for a released item, or `None` when it has no position to show (a summary).
/// `hostile` marks tracks that are part of an open intrusion alert; `now` is the server clock.
pub fn item(site: &str, r: &Released, hostile: bool, now: f64) -> Option<String> {
    let p = r.pos?;
    let b = &r.body;
    let t = time_of(b).max(0.0);
    let ce = match r.detail {
        limes_core::site::Detail::Full => 10.0,
        _ => 500.0,
    };
    match r.kind {
        DataKind::Track => {
            let id = b["id"].as_u64()?;
            let class = b["class"]
                .as_str()
                .map(str::to_string)
                .or_else(|| best_class(&b["class"]))
                .unwrap_or_else(|| "unknown".into());
            let detail = format!(
                "<contact callsign=\"T{id} {}\"/><remarks>Limes track {id} ({})</remarks>",
                escape(&class),
                escape(b["status"].as_str().unwrap_or(""))
            );
            let kind = if hostile { "a-h-G" } else { "a-u-G" };
            Some(event(
                &format!("limes.{site}.track.{id}"),
                kind,
                "m-f",
                t,
                t.max(now) + TRACK_STALE_S,
                p.lat,
                p.lon,
                ce,
                &detail,
            ))
        }
        DataKind::Alert => {
            let id = b["id"].as_u64()?;
            let kind_name = b["kind"].as_str().unwrap_or("alert");
            let summary = b["summary"].as_str().unwrap_or(kind_name);
            let closed = b["state"] == "closed" || b["status"] == "resolved";
            let intrusion = matches!(
                kind_name,
                "infiltration" | "approach" | "perimeter_breach" | "mass_breakout" | "fence_cut"
            );
            let (kind, emergency) = if closed {
                (
                    "b-a-o-can",
                    format!("<emergency cancel=\"true\">{}</emergency>", escape(summary)),
                )
            } else if intrusion {
                (
                    "b-a-g",
                    format!(
                        "<emergency type=\"Geo-fence Breached\">{}</emergency>",
                        escape(summary)
                    ),
                )
            } else {
                (
                    "b-a-o-c",
                    format!("<emergency type=\"Custom\">{}</emergency>", escape(summary)),
                )
            };
            let detail = format!(
                "{emergency}<contact callsign=\"ALERT {id} {}\"/><remarks>{} (count {}, severity {})</remarks>",
                escape(kind_name),
                escape(summary),
                b["count"],
                escape(b["severity"].as_str().unwrap_or(""))
            );
            let stale = if closed {
                t.max(now) + 60.0
            } else {
                t.max(now) + ALERT_STALE_S
            };
            Some(event(
                &format!("limes.{site}.alert.{id}"),
                kind,
                "h-e",
                t.max(now.min(t + 1.0)),
                stale,
                p.lat,
                p.lon,
                ce,
                &detail,
            ))
        }
        DataKind::Facility => {
            let id = b["id"].as_str()?;
            let detail = format!(
                "<contact callsign=\"{}\"/><remarks>status {}, estimate {} of {}</remarks>",
                escape(b["name"].as_str().unwrap_or(id)),
                escape(b["status"].as_str().unwrap_or("")),
                b["estimate"],
                b["population"]
            );
            Some(event(
                &format!("limes.{site}.facility.{id}"),
                "a-n-G-I",
                "h-e",
                now,
                now + ALERT_STALE_S,
                p.lat,
                p.lon,
                50.0,
                &detail,
            ))
        }
    }
}

fn best_class(c: &Value) -> Option<String> {
    let obj = c.as_object()?;
    obj.iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// The reply to a `t-x-c-t` ping.
pub fn pong(now: f64) -> String {
    event(
        "limes-pong",
        "t-x-c-t-r",
        "h-g-i-g-o",
        now,
        now + 20.0,
        0.0,
        0.0,
        9_999_999.0,
        "",
    )
}
