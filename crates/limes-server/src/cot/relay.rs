//! What TAK clients of one organisation share with each other: their own position reports
//! (events with the client's own uid only, so a client cannot forge a server track, a facility
//! or a colleague), re-encoded from the parsed fields (so nothing a client put in its event — a
//! token, a detail meant for the server — is ever passed on), at most [`MAX_PER_SECOND`] per
//! client, the latest non-stale position of each connected client for newcomers, and a
//! `t-x-d-d` when a client leaves. Each organisation has its own bus, so no other organisation's
//! clients can crowd it; client uids are scoped per organisation.

use crate::xml::escape;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::parse::CotEvent;
use crate::deliver::cot::encode::iso;

/// A relayed event.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The connection it came from (never sent back to it).
    pub origin: u64,
    /// The organisation it stays within.
    pub org: String,
    /// The event.
    pub xml: Arc<str>,
}

/// Position reports relayed per client and wall second, at most (TAK clients report every few
/// seconds); the rest are dropped.
pub const MAX_PER_SECOND: u32 = 5;

/// Events an organisation's bus holds for a client that has not read them yet.
const BUS: usize = 1024;

struct Client {
    conn: u64,
    /// Who holds the uid (`token:N`, `cert:CN`): the same credential connecting again with it
    /// takes it over.
    holder: String,
    /// Cancelled when a new connection of the same credential takes the uid over.
    replaced: CancellationToken,
    last: Option<(Arc<str>, f64)>,
    /// The wall second being counted, and how many reports were relayed in it.
    second: i64,
    sent: u32,
}

/// The relay buses and the connected clients, per organisation.
#[derive(Clone, Default)]
pub struct Relays {
    buses: Arc<Mutex<HashMap<String, broadcast::Sender<Relay>>>>,
    clients: Arc<Mutex<HashMap<(String, String), Client>>>,
}

impl Relays {
    /// Subscribes to the events relayed within `org`.
    pub fn subscribe(&self, org: &str) -> broadcast::Receiver<Relay> {
        match self.buses.lock() {
            Ok(mut b) => b
                .entry(org.to_string())
                .or_insert_with(|| broadcast::channel(BUS).0)
                .subscribe(),
            Err(_) => broadcast::channel(1).1,
        }
    }

    fn send(&self, r: Relay) {
        if let Ok(b) = self.buses.lock() {
            if let Some(tx) = b.get(&r.org) {
                let _ = tx.send(r);
            }
        }
    }

    /// Registers a client's uid within its organisation for credential `holder`; returns what
    /// is cancelled when the connection is replaced. The same device certificate connecting
    /// again with the uid (a device back on another network while its old connection has not
    /// yet been seen to die) takes it over and the old connection is told to close; any other
    /// credential of the organisation, a token among them, gets an error.
    pub fn join(
        &self,
        org: &str,
        uid: &str,
        conn: u64,
        holder: &str,
    ) -> Result<CancellationToken, String> {
        let mut c = self.clients.lock().map_err(|_| "internal lock poisoned")?;
        let key = (org.to_string(), uid.to_string());
        if let Some(old) = c.get(&key) {
            // Only a device certificate names one device; a token may be shared by many
            // (a gateway), and one of them must not be able to cut a colleague off.
            if old.holder != holder || !holder.starts_with("cert:") {
                return Err(format!(
                    "another client of your organisation is connected with uid {uid:?}; uids must be distinct"
                ));
            }
            old.replaced.cancel();
        }
        let replaced = CancellationToken::new();
        c.insert(
            key,
            Client {
                conn,
                holder: holder.to_string(),
                replaced: replaced.clone(),
                last: None,
                second: 0,
                sent: 0,
            },
        );
        Ok(replaced)
    }

    /// The latest positions of the organisation's other clients not yet stale at `now` (the
    /// wall clock: devices time their reports by it, whatever a drill clock says).
    pub fn positions(&self, org: &str, conn: u64, now: f64) -> Vec<Arc<str>> {
        let Ok(c) = self.clients.lock() else {
            return vec![];
        };
        c.iter()
            .filter(|((o, _), cl)| o == org && cl.conn != conn)
            .filter_map(|(_, cl)| cl.last.as_ref())
            .filter(|(_, stale)| *stale > now)
            .map(|(x, _)| x.clone())
            .collect()
    }

    /// Relays a client's own position report (`ev.uid` is the client's `uid`) to the other
    /// clients of its organisation, within the client's rate at wall time `now`. Returns
    /// whether it was relayed: events with any other uid, and reports over the rate, are not.
    pub fn relay(&self, org: &str, uid: &str, conn: u64, ev: &CotEvent, now: f64) -> bool {
        if ev.uid != uid {
            return false;
        }
        let xml: Arc<str> = reencode(ev).into();
        {
            let Ok(mut c) = self.clients.lock() else {
                return false;
            };
            let Some(cl) = c.get_mut(&(org.to_string(), uid.to_string())) else {
                return false;
            };
            let second = now.floor() as i64;
            if cl.second != second {
                cl.second = second;
                cl.sent = 0;
            }
            if cl.sent >= MAX_PER_SECOND {
                return false;
            }
            cl.sent += 1;
            cl.last = Some((xml.clone(), ev.stale));
        }
        self.send(Relay {
            origin: conn,
            org: org.to_string(),
            xml,
        });
        true
    }

    /// Connection `conn` left: forget its uid (unless a newer connection took it over) and
    /// tell the organisation's other clients.
    pub fn leave(&self, org: &str, uid: &str, conn: u64, now: f64) {
        if let Ok(mut c) = self.clients.lock() {
            let key = (org.to_string(), uid.to_string());
            if c.get(&key).is_none_or(|cl| cl.conn != conn) {
                return;
            }
            let Some(cl) = c.remove(&key) else {
                return;
            };
            drop(c);
            self.send(Relay {
                origin: cl.conn,
                org: org.to_string(),
                xml: disconnect(uid, now).into(),
            });
        }
    }
}

/// A client's event as relayed: uid, type, how, times, point, call sign, and the TAK detail
/// [`CotEvent`] keeps (team and role, course and speed, battery), written from parsed values.
/// Nothing else a client put in its event is passed on: not its network endpoint, which would
/// tell colleagues where it connects from, nor free text.
pub fn reencode(ev: &CotEvent) -> String {
    let mut detail = String::new();
    if let Some(c) = ev.callsign.as_deref() {
        let _ = write!(detail, "<contact callsign=\"{}\"/>", escape(c));
    }
    if let Some((team, role)) = ev.group {
        // Both are TAK's own names (parse keeps no others).
        let _ = write!(detail, "<__group name=\"{team}\" role=\"{role}\"/>");
    }
    if let Some((course, speed)) = ev.track {
        let _ = write!(
            detail,
            "<track course=\"{course:.1}\" speed=\"{speed:.2}\"/>"
        );
    }
    if let Some(b) = ev.battery {
        let _ = write!(detail, "<status battery=\"{b}\"/>");
    }
    format!(
        "<event version=\"2.0\" uid=\"{}\" type=\"{}\" how=\"{}\" time=\"{}\" start=\"{}\" stale=\"{}\">\
         <point lat=\"{:.7}\" lon=\"{:.7}\" hae=\"{:.1}\" ce=\"{:.1}\" le=\"9999999.0\"/>\
         <detail>{detail}</detail></event>",
        escape(&ev.uid),
        escape(&ev.kind),
        escape(ev.how.as_deref().unwrap_or("h-e")),
        iso(ev.time),
        iso(ev.time),
        iso(ev.stale.max(ev.time)),
        ev.lat,
        ev.lon,
        ev.hae.unwrap_or(9_999_999.0),
        ev.ce.unwrap_or(9_999_999.0),
    )
}

/// TAK's "this client disconnected" event.
fn disconnect(uid: &str, now: f64) -> String {
    format!(
        "<event version=\"2.0\" uid=\"{}-disconnect\" type=\"t-x-d-d\" how=\"h-g-i-g-o\" time=\"{}\" start=\"{}\" stale=\"{}\">\
         <point lat=\"0\" lon=\"0\" hae=\"9999999.0\" ce=\"9999999.0\" le=\"9999999.0\"/>\
         <detail><link uid=\"{}\" relation=\"p-p\" type=\"a-f-G\"/></detail></event>",
        escape(uid),
        iso(now),
        iso(now),
        iso(now + 20.0),
        escape(uid)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cot::parse::parse;

    /// A position report as ATAK sends it (its detail trimmed to what matters here).
    fn atak_pli(group: &str, track: &str) -> String {
        format!(
            r#"<event version="2.0" uid="ANDROID-0123456789abcdef" type="a-f-G-U-C" how="m-g" time="2026-11-29T10:00:00.000Z" start="2026-11-29T10:00:00.000Z" stale="2026-11-29T10:06:00.000Z"><point lat="36.5" lon="41.2" hae="312.4" ce="9.9" le="9999999.0"/><detail><takv os="34" version="5.2.0.8" device="GOOGLE PIXEL 7" platform="ATAK-CIV"/><contact endpoint="192.0.2.7:4242:tcp" callsign="EAGLE"/><uid Droid="EAGLE"/><precisionlocation altsrc="GPS" geopointsrc="GPS"/>{group}<status battery="87"/>{track}</detail></event>"#
        )
    }

    #[test]
    fn a_relayed_position_keeps_team_course_and_battery_but_not_the_endpoint() {
        let ev = parse(
            atak_pli(
                r#"<__group role="Team Lead" name="Cyan"/>"#,
                r#"<track course="271.5" speed="1.25"/>"#,
            )
            .as_bytes(),
        )
        .expect("an ATAK position report parses");
        let x = reencode(&ev);
        for part in [
            r#"<contact callsign="EAGLE"/>"#,
            r#"<__group name="Cyan" role="Team Lead"/>"#,
            r#"<track course="271.5" speed="1.25"/>"#,
            r#"<status battery="87"/>"#,
            r#"hae="312.4""#,
        ] {
            assert!(x.contains(part), "{part}: {x}");
        }
        for absent in ["192.0.2.7", "endpoint", "takv", "PIXEL", "Droid"] {
            assert!(!x.contains(absent), "{absent}: {x}");
        }
        assert_eq!(
            parse(x.as_bytes()).expect("the relayed event parses").group,
            ev.group
        );
    }

    #[test]
    fn decoration_that_is_not_taks_own_is_left_out_and_the_position_kept() {
        for (group, track) in [
            (
                r#"<__group role="Team Lead" name="Cyan&quot;/&gt;&lt;x"/>"#,
                r#"<track course="NaN" speed="1"/>"#,
            ),
            (
                r#"<__group role="Boss" name="Cyan"/>"#,
                r#"<track course="400" speed="-3"/>"#,
            ),
            (
                r#"<__group role="Team Lead" name="&bogus;"/>"#,
                r#"<track/>"#,
            ),
        ] {
            let ev = parse(atak_pli(group, track).as_bytes()).expect("still parses");
            assert_eq!((ev.group, ev.track), (None, None), "{group} {track}");
            let x = reencode(&ev);
            assert!(!x.contains("__group") && !x.contains("<track"), "{x}");
            assert!(x.contains(r#"lat="36.5000000""#), "{x}");
        }
    }
}
