//! What TAK clients of one organisation share with each other: their own position reports,
//! re-encoded from the parsed fields (so nothing a client put in its event — a token, a
//! detail meant for the server — is ever passed on), the latest non-stale position of each
//! connected client for newcomers, and a `t-x-d-d` when a client leaves. Client uids are
//! scoped per organisation: one organisation cannot take another's uid.

use quick_xml::escape::escape;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

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

struct Client {
    conn: u64,
    last: Option<(Arc<str>, f64)>,
}

/// The relay bus and the connected clients, per organisation.
#[derive(Clone)]
pub struct Relays {
    tx: broadcast::Sender<Relay>,
    clients: Arc<Mutex<HashMap<(String, String), Client>>>,
}

impl Default for Relays {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            clients: Default::default(),
        }
    }
}

impl Relays {
    /// Subscribes to relayed events.
    pub fn subscribe(&self) -> broadcast::Receiver<Relay> {
        self.tx.subscribe()
    }

    /// Registers a client's uid within its organisation; an error when another connection of
    /// the organisation holds it.
    pub fn join(&self, org: &str, uid: &str, conn: u64) -> Result<(), String> {
        let mut c = self.clients.lock().map_err(|_| "internal lock poisoned")?;
        let key = (org.to_string(), uid.to_string());
        if c.contains_key(&key) {
            return Err(format!(
                "another client of your organisation is connected with uid {uid:?}; uids must be distinct"
            ));
        }
        c.insert(key, Client { conn, last: None });
        Ok(())
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

    /// Relays a client's own position report to the other clients of its organisation.
    pub fn relay(&self, org: &str, uid: &str, conn: u64, ev: &CotEvent) {
        let xml: Arc<str> = reencode(ev).into();
        if let Ok(mut c) = self.clients.lock() {
            if let Some(cl) = c.get_mut(&(org.to_string(), uid.to_string())) {
                if ev.uid == uid {
                    cl.last = Some((xml.clone(), ev.stale));
                }
            }
        }
        let _ = self.tx.send(Relay {
            origin: conn,
            org: org.to_string(),
            xml,
        });
    }

    /// A client left: forget its uid and tell the organisation's other clients.
    pub fn leave(&self, org: &str, uid: &str, now: f64) {
        if let Ok(mut c) = self.clients.lock() {
            let Some(cl) = c.remove(&(org.to_string(), uid.to_string())) else {
                return;
            };
            let _ = self.tx.send(Relay {
                origin: cl.conn,
                org: org.to_string(),
                xml: disconnect(uid, now).into(),
            });
        }
    }
}

/// A client's event as relayed: uid, type, how, times, point and call sign only.
pub fn reencode(ev: &CotEvent) -> String {
    let callsign = ev
        .callsign
        .as_deref()
        .map(|c| format!("<contact callsign=\"{}\"/>", escape(c)))
        .unwrap_or_default();
    format!(
        "<event version=\"2.0\" uid=\"{}\" type=\"{}\" how=\"{}\" time=\"{}\" start=\"{}\" stale=\"{}\">\
         <point lat=\"{:.7}\" lon=\"{:.7}\" hae=\"9999999.0\" ce=\"{:.1}\" le=\"9999999.0\"/>\
         <detail>{callsign}</detail></event>",
        escape(&ev.uid),
        escape(&ev.kind),
        escape(ev.how.as_deref().unwrap_or("h-e")),
        iso(ev.time),
        iso(ev.time),
        iso(ev.stale.max(ev.time)),
        ev.lat,
        ev.lon,
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
