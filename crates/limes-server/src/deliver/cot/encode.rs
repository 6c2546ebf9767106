//! Writes CoT events for TAK clients from released items: tracks (`a-u-G`, or `a-h-G` when
//! the policy says the track is hostile to the organisation), alerts (`b-a-g` for intrusions,
//! `b-a-o-c` for sensor faults, with `<emergency>`; `b-a-o-can` once closed or resolved),
//! facilities, and the ping reply. Events carry no XML prolog, so a client that splits the
//! stream on `</event>` gets frames any XML parser reads; `ce` is the released radius.

use crate::xml::escape;
use limes_core::record::AlertState;
use std::fmt::Write;

use crate::release::{AlertOut, FacilityOut, Lifecycle, Out, Released, TrackOut};

/// Seconds a track event stays fresh on a TAK map.
pub const TRACK_STALE_S: f64 = 30.0;

/// Seconds an alert event stays fresh (it is refreshed with every revision).
pub const ALERT_STALE_S: f64 = 3600.0;

/// CoT time: RFC 3339 UTC with milliseconds and `Z`.
pub fn iso(t: f64) -> String {
    let secs = t.floor() as i64;
    let nanos = ((t - t.floor()) * 1e9) as u32;
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The parts of one event.
struct Ev<'a> {
    uid: &'a str,
    kind: &'a str,
    how: &'a str,
    time: f64,
    stale: f64,
    lat: f64,
    lon: f64,
    ce: f64,
    detail: &'a str,
}

fn write(e: &Ev<'_>) -> String {
    let mut s = String::with_capacity(320 + e.detail.len());
    let _ = write!(
        s,
        "<event version=\"2.0\" uid=\"{}\" type=\"{}\" how=\"{}\" time=\"{}\" start=\"{}\" stale=\"{}\">\
         <point lat=\"{:.6}\" lon=\"{:.6}\" hae=\"9999999.0\" ce=\"{:.1}\" le=\"9999999.0\"/>\
         <detail>{}</detail></event>",
        escape(e.uid),
        e.kind,
        e.how,
        iso(e.time),
        iso(e.time),
        iso(e.stale),
        e.lat,
        e.lon,
        e.ce.clamp(0.0, 9_999_999.0),
        e.detail
    );
    s
}

/// The CoT event for a released item, or `None` when the organisation is released no position
/// for it (a summary). `now` is the server clock.
pub fn item(site: &str, r: &Released, now: f64) -> Option<String> {
    let p = r.pos?;
    match &r.out {
        Out::Track(t) => {
            let id = r.out.id();
            let t0 = t.time().0;
            let class = t.class();
            let mut detail = format!(
                "<contact callsign=\"T-{} {}\"/><remarks>Limes track ({})</remarks>",
                escape(short(id)),
                class.name(),
                t.status().name()
            );
            if let TrackOut::Full(f) = t {
                let (ve, vn) = (f.rec.vel[0], f.rec.vel[1]);
                let course = ve.atan2(vn).to_degrees().rem_euclid(360.0);
                let _ = write!(
                    detail,
                    "<track course=\"{course:.1}\" speed=\"{:.2}\"/>",
                    ve.hypot(vn)
                );
            }
            Some(write(&Ev {
                uid: &format!("limes.{site}.track.{id}"),
                kind: if t.hostile() { "a-h-G" } else { "a-u-G" },
                how: "m-f",
                time: t0,
                stale: t0.max(now) + TRACK_STALE_S,
                lat: p.lat,
                lon: p.lon,
                ce: r.radius_m,
                detail: &detail,
            }))
        }
        Out::Alert(a) => {
            let s = a.summary();
            let closed = s.state == AlertState::Closed || s.status == Lifecycle::Resolved;
            let text = match a {
                AlertOut::Full(f) => f.view.alert.summary.clone(),
                _ => s.summary.clone(),
            };
            let (kind, emergency) = if closed {
                (
                    "b-a-o-can",
                    format!("<emergency cancel=\"true\">{}</emergency>", escape(&text)),
                )
            } else if s.kind.is_intrusion() {
                (
                    "b-a-g",
                    format!(
                        "<emergency type=\"Geo-fence Breached\">{}</emergency>",
                        escape(&text)
                    ),
                )
            } else {
                (
                    "b-a-o-c",
                    format!("<emergency type=\"Custom\">{}</emergency>", escape(&text)),
                )
            };
            let detail = format!(
                "{emergency}<contact callsign=\"ALERT {} {}\"/><remarks>{} (count {}, severity {})</remarks>",
                escape(short(&s.id)),
                s.kind.name(),
                escape(&text),
                s.count,
                s.severity.name()
            );
            let t = s.time.0;
            let stale = t.max(now) + if closed { 60.0 } else { ALERT_STALE_S };
            Some(write(&Ev {
                uid: &format!("limes.{site}.alert.{}", s.id),
                kind,
                how: "h-e",
                time: t.max(now.min(t + 1.0)),
                stale,
                lat: p.lat,
                lon: p.lon,
                ce: r.radius_m,
                detail: &detail,
            }))
        }
        // Assessed events are kept from the operators' maps (the REST API and the event
        // stream carry them).
        Out::Event(_) => None,
        Out::Facility(f) => {
            let FacilityOut::Full(f) = f else {
                return None;
            };
            let detail = format!(
                "<contact callsign=\"{}\"/><remarks>status {}, estimate {} of {}</remarks>",
                escape(&f.name),
                f.status.name(),
                f.estimate,
                f.population
            );
            Some(write(&Ev {
                uid: &format!("limes.{site}.facility.{}", f.id),
                kind: "a-n-G-I",
                how: "h-e",
                time: now,
                stale: now + ALERT_STALE_S,
                lat: p.lat,
                lon: p.lon,
                ce: r.radius_m,
                detail: &detail,
            }))
        }
    }
}

/// The last six characters of an opaque id, for call signs.
fn short(id: &str) -> &str {
    &id[id.len().saturating_sub(6)..]
}

/// The reply to a `t-x-c-t` ping.
pub fn pong(now: f64) -> String {
    write(&Ev {
        uid: "limes-pong",
        kind: "t-x-c-t-r",
        how: "h-g-i-g-o",
        time: now,
        stale: now + 20.0,
        lat: 0.0,
        lon: 0.0,
        ce: 9_999_999.0,
        detail: "",
    })
}

/// The uid the server speaks as in chat.
const SERVER_UID: &str = "limes-server";

/// An event a refused client shows before the connection closes: why it was refused, as a
/// GeoChat message from `LIMES` to all chat rooms (the shape ATAK, WinTAK and iTAK display).
pub fn refusal(now: f64, reason: &str) -> String {
    let room = "All Chat Rooms";
    let message_id = format!("{:016x}", rand::random::<u64>());
    let detail = format!(
        "<__chat parent=\"RootContactGroup\" groupOwner=\"false\" messageId=\"{message_id}\" \
         chatroom=\"{room}\" id=\"{room}\" senderCallsign=\"LIMES\">\
         <chatgrp uid0=\"{SERVER_UID}\" uid1=\"{room}\" id=\"{room}\"/></__chat>\
         <link uid=\"{SERVER_UID}\" type=\"a-f-G-U-C\" relation=\"p-p\"/>\
         <remarks source=\"BAO.F.ATAK.{SERVER_UID}\" to=\"{room}\" time=\"{}\">\
         Connection refused: {}</remarks>",
        iso(now),
        escape(reason)
    );
    write(&Ev {
        uid: &format!("GeoChat.{SERVER_UID}.{room}.{message_id}"),
        kind: "b-t-f",
        how: "h-g-i-g-o",
        time: now,
        stale: now + 60.0,
        lat: 0.0,
        lon: 0.0,
        ce: 9_999_999.0,
        detail: &detail,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_refusal_is_a_geochat_message_to_all_rooms() {
        let x = refusal(1_700_000_000.0, "a <bad> credential");
        let ev = crate::cot::parse::parse(x.as_bytes()).expect("it parses");
        assert_eq!(ev.kind, "b-t-f");
        assert!(
            ev.uid.starts_with("GeoChat.limes-server.All Chat Rooms."),
            "{x}"
        );
        for part in [
            "<__chat parent=\"RootContactGroup\"",
            "chatroom=\"All Chat Rooms\"",
            "senderCallsign=\"LIMES\"",
            "<chatgrp uid0=\"limes-server\"",
            "<remarks source=\"BAO.F.ATAK.limes-server\" to=\"All Chat Rooms\"",
            ">Connection refused: a &lt;bad&gt; credential</remarks>",
        ] {
            assert!(x.contains(part), "{part}: {x}");
        }
        // Each message has its own id (a client keeps one line per message id).
        assert_ne!(
            ev.uid,
            crate::cot::parse::parse(refusal(1.0, "x").as_bytes())
                .unwrap()
                .uid
        );
    }
}
