//! The CoT listener. A connection is identified by the uid of its first event, which must also
//! authenticate it (`<detail><limes token="…"/></detail>`, or a TLS client certificate). A
//! connection whose uid is a site sensor and whose token may ingest is a *sensor*: its events
//! become detections (and its own-uid events heartbeats), made durable before more is read,
//! so TCP flow control is the backpressure. Any other is a *TAK client*: it receives what its
//! organisation is released (current picture first), gets `t-x-c-t-r` for each ping, and its
//! own events are relayed to other clients of its organisation, never back to itself.

use limes_core::record::{ClassProbs, Detection, Heartbeat, Position, SensorRecord, Time};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

use super::frame::Framer;
use super::parse::{parse, CotEvent};
use super::write;
use crate::api::stream::Session;
use crate::api::AppState;
use crate::auth::Principal;
use crate::release::Item;

/// Events queued for one client before it is judged too slow and disconnected.
const CLIENT_QUEUE: usize = 4096;

/// An event a client sent, relayed to the other clients of its organisation.
#[derive(Clone, Debug)]
struct Relay {
    origin: u64,
    org: String,
    xml: Arc<String>,
}

/// Shared by every CoT connection.
#[derive(Clone)]
pub struct CotHub {
    state: AppState,
    relay: broadcast::Sender<Relay>,
    uids: Arc<Mutex<HashSet<String>>>,
    next_id: Arc<AtomicU64>,
}

impl CotHub {
    /// A hub over the API's state.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            relay: broadcast::channel(1024).0,
            uids: Default::default(),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Accepts plain TCP connections until the listener fails.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.connection(sock, None).await {
                            tracing::info!("CoT {peer}: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("CoT accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Accepts TLS connections (client certificates required) until the listener fails.
    pub async fn serve_tls(self, listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
        loop {
            let (sock, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("CoT TLS accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let (me, acceptor) = (self.clone(), acceptor.clone());
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    acceptor.accept(sock),
                )
                .await
                {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => return tracing::info!("CoT TLS {peer}: handshake: {e}"),
                    Err(_) => return tracing::info!("CoT TLS {peer}: handshake timed out"),
                };
                let cn = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| super::tls::common_name(c));
                let Some(p) = cn
                    .as_deref()
                    .and_then(|cn| super::tls::principal(&me.state.site, cn))
                else {
                    return tracing::info!(
                        "CoT TLS {peer}: certificate CN {cn:?} names no organisation or sensor"
                    );
                };
                if let Err(e) = me.connection(tls, Some(p)).await {
                    tracing::info!("CoT TLS {peer}: {e}");
                }
            });
        }
    }

    /// Serves one connection; `cert` is the principal of a verified TLS client certificate.
    pub async fn connection<S>(&self, sock: S, cert: Option<Principal>) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(sock);
        let (tx, mut rx) = mpsc::channel::<Arc<String>>(CLIENT_QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(x) = rx.recv().await {
                if wr.write_all(x.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });
        let result = self.read_loop(&mut rd, tx, cert).await;
        let _ = writer.await;
        result
    }

    async fn read_loop<R: AsyncRead + Unpin>(
        &self,
        rd: &mut R,
        tx: mpsc::Sender<Arc<String>>,
        cert: Option<Principal>,
    ) -> Result<(), String> {
        let mut framer = Framer::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut role: Option<Role> = None;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut index = 0u64;
        let result = loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(format!("read: {e}")),
            };
            framer.push(&buf[..n]);
            let mut records = Vec::new();
            loop {
                let frame = match framer.next_event() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => return self.finish(role, Err(format!("{e}; closing"))),
                };
                index += 1;
                let ev = match parse(&frame) {
                    Ok(ev) => ev,
                    Err(e) => {
                        self.state.metrics.ingest_rejected.inc();
                        tracing::warn!("CoT connection {id}, event {index}: {e}");
                        if role.is_none() {
                            return self.finish(role, Err(format!("first event refused: {e}")));
                        }
                        continue;
                    }
                };
                if role.is_none() {
                    match self.identify(&ev, cert.clone(), id, &tx) {
                        Ok(r) => role = Some(r),
                        Err(e) => return self.finish(role, Err(e)),
                    }
                }
                match &role {
                    Some(Role::Sensor { sensor, .. }) => {
                        if let Some(rec) = to_record(sensor, &ev) {
                            match self.state.checker.check(&rec) {
                                Ok(()) => records.push(rec),
                                Err((field, message)) => {
                                    self.state.metrics.ingest_rejected.inc();
                                    tracing::warn!("CoT sensor {sensor}, event {index} (uid {}): {field}: {message}", ev.uid);
                                }
                            }
                        }
                    }
                    Some(Role::Client { principal, .. }) => {
                        if ev.kind == "t-x-c-t" {
                            let pong = Arc::new(write::pong(self.state.clock.now()));
                            if tx.try_send(pong).is_err() {
                                return self.finish(role, Err("client too slow; closing".into()));
                            }
                        } else if ev.kind.starts_with("a-") {
                            let xml = Arc::new(String::from_utf8_lossy(&frame).into_owned());
                            let _ = self.relay.send(Relay {
                                origin: id,
                                org: principal.org.clone(),
                                xml,
                            });
                        }
                    }
                    None => {}
                }
            }
            if !records.is_empty() {
                if let Some(Role::Sensor { principal, .. }) = &role {
                    let mut body = Vec::new();
                    for r in &records {
                        if serde_json::to_writer(&mut body, r).is_ok() {
                            body.push(b'\n');
                        }
                    }
                    let n = records.len() as u64;
                    // Waits for durability (and for room in the queue) before reading on.
                    if let Err(e) = self.state.store.log(principal.actor(), body, records).await {
                        break Err(format!("store: {e}"));
                    }
                    self.state.metrics.ingest_records.inc_by(n);
                }
            }
        };
        self.finish(role, result)
    }

    fn finish(&self, role: Option<Role>, r: Result<(), String>) -> Result<(), String> {
        if let Some(Role::Client { uid, feed, .. }) = role {
            // The client is gone: stop feeding it, so its writer and queue are freed now.
            feed.abort();
            if let Ok(mut u) = self.uids.lock() {
                u.remove(&uid);
            }
        }
        r
    }

    fn identify(
        &self,
        ev: &CotEvent,
        cert: Option<Principal>,
        id: u64,
        tx: &mpsc::Sender<Arc<String>>,
    ) -> Result<Role, String> {
        let principal = match (cert, &ev.token) {
            (Some(p), _) => p,
            (None, Some(t)) => self
                .state
                .tokens
                .lookup(t)
                .ok_or("unknown or revoked token in the first event")?,
            (None, None) => {
                return Err(
                    "the first event must authenticate: <detail><limes token=\"…\"/></detail>"
                        .into(),
                )
            }
        };
        if principal.role.can_ingest() && self.state.checker.knows(&ev.uid) {
            return Ok(Role::Sensor {
                sensor: ev.uid.clone(),
                principal,
            });
        }
        if !principal.role.can_read() {
            return Err(format!(
                "uid {:?} is not a site sensor and the token may not read",
                ev.uid
            ));
        }
        {
            let mut u = self.uids.lock().map_err(|_| "internal lock poisoned")?;
            if !u.insert(ev.uid.clone()) {
                return Err(format!(
                    "another client is connected with uid {:?}; uids must be distinct",
                    ev.uid
                ));
            }
        }
        let feed = self.spawn_feed(principal.clone(), id, tx.clone());
        Ok(Role::Client {
            uid: ev.uid.clone(),
            principal,
            feed,
        })
    }

    /// Sends the client its released picture, then every released change and relayed event.
    fn spawn_feed(
        &self,
        p: Principal,
        id: u64,
        tx: mpsc::Sender<Arc<String>>,
    ) -> tokio::task::JoinHandle<()> {
        let st = self.state.clone();
        let mut changes = st.hub.subscribe();
        let mut relays = self.relay.subscribe();
        tokio::spawn(async move {
            let session = Session::open(&st, p.actor(), "cot");
            let site = st.site.name.clone();
            let send = |item: &Item| -> Result<(), ()> {
                let Some(r) = st.policy.release(&p.org, item) else {
                    return Ok(());
                };
                let hostile = matches!(item, Item::Track(t) if hostile(&st, t.id));
                let Some(xml) = write::item(&site, &r, hostile, st.clock.now()) else {
                    return Ok(());
                };
                session.delivered(&r);
                tx.try_send(Arc::new(xml)).map_err(|_| ())
            };
            for item in st.hub.snapshot(st.clock.now()) {
                if send(&item).is_err() {
                    return;
                }
            }
            loop {
                tokio::select! {
                    c = changes.recv() => match c {
                        Ok(ev) if ev.origin == Some(id) => {}
                        Ok(ev) => if send(&ev.item).is_err() { return },
                        Err(broadcast::error::RecvError::Lagged(n)) => { st.metrics.lagged.inc_by(n); }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    r = relays.recv() => match r {
                        Ok(r) if r.origin != id && r.org == p.org => {
                            if tx.try_send(r.xml.clone()).is_err() { return }
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(n)) => { st.metrics.lagged.inc_by(n); }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = tx.closed() => return,
                }
            }
        })
    }
}

fn hostile(st: &AppState, track: u64) -> bool {
    use limes_core::record::{AlertKind, AlertState};
    st.hub.with(|p| {
        p.alerts.values().any(|a| {
            a.alert.state == AlertState::Open
                && matches!(
                    a.alert.kind,
                    AlertKind::Infiltration | AlertKind::PerimeterBreach | AlertKind::MassBreakout
                )
                && a.alert.tracks.contains(&track)
        })
    })
}

enum Role {
    Sensor {
        sensor: String,
        principal: Principal,
    },
    Client {
        uid: String,
        principal: Principal,
        feed: tokio::task::JoinHandle<()>,
    },
}

/// The sensor record a sensor's CoT event stands for: its own uid is a heartbeat, an `a-…`
/// event a detection; anything else is ignored.
pub fn to_record(sensor: &str, ev: &CotEvent) -> Option<SensorRecord> {
    if ev.uid == sensor {
        return Some(SensorRecord::Heartbeat(Heartbeat {
            sensor: sensor.to_string(),
            time: Time(ev.time),
        }));
    }
    if !ev.kind.starts_with("a-") {
        return None;
    }
    let class = ev.class.as_deref().and_then(|c| {
        let mut p = [0.1, 0.1, 0.1];
        let i = ["person", "vehicle", "animal"]
            .iter()
            .position(|x| *x == c)?;
        p[i] = 0.8;
        Some(ClassProbs::from_array(p))
    });
    Some(SensorRecord::Detection(Detection {
        sensor: sensor.to_string(),
        time: Time(ev.time),
        pos: Position::LonLat {
            lon: ev.lon,
            lat: ev.lat,
        },
        cov: None,
        ce: (ev.ce > 0.0 && ev.ce < 9_999_999.0).then_some(ev.ce),
        class,
        heat_m2: ev.heat_m2,
        count: ev.count,
    }))
}
