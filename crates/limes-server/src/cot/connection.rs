//! One CoT connection. Its first event identifies and authenticates it (a token in
//! `<detail><limes token="…"/>`, or a verified TLS client certificate) and must arrive within
//! the configured time (`--cot-first-event-s`). A connection whose uid is a site sensor and whose credential may ingest
//! is a *sensor*: its events become records, made durable before more is read, so TCP flow
//! control is the backpressure. Any other is a *TAK client*: it receives what its
//! organisation is released, gets `t-x-c-t-r` for each ping, and its own position reports
//! are relayed to the other clients of its organisation. A refused connection is sent an event
//! saying why, then closed, and the server logs the reason at WARN.

use futures::{FutureExt, StreamExt};
use limes_core::record::{ClassProbs, Detection, Heartbeat, Position, SensorRecord, Time};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

use super::frame::{CotCodec, FrameError};
use super::parse::{parse, CotEvent};
use super::relay::Relays;
use crate::api::AppState;
use crate::auth::Principal;
use crate::deliver::cot::{client_feed, encode, FeedEnd};
use crate::ingest::Batch;

/// Events queued for one client before it is judged too slow and disconnected.
pub const CLIENT_QUEUE: usize = 4096;

/// Events of one sensor connection logged in one batch at most.
const MAX_BATCH: usize = 4096;

/// Refused events of one connection that are logged one by one (then every 1000th).
const LOGGED_REFUSALS: u64 = 10;

/// How a connection came in.
#[derive(Clone, Debug)]
pub enum Transport {
    /// Plain TCP: sensors with a token; TAK clients only when allowed.
    Plain {
        /// Whether TAK clients may connect this way.
        clients: bool,
    },
    /// TLS with a verified client certificate, which names the caller.
    Tls(Principal),
}

/// What a connection is, once identified.
enum Role {
    Sensor {
        sensor: String,
        principal: Principal,
    },
    Client {
        uid: String,
        principal: Principal,
    },
}

/// Serves one connection to its end.
pub async fn serve<S>(
    st: AppState,
    relays: Relays,
    conn: u64,
    sock: S,
    peer: SocketAddr,
    how: Transport,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(sock);
    let (tx, mut rx) = mpsc::channel::<Arc<str>>(CLIENT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(x) = rx.recv().await {
            if wr.write_all(x.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut frames = FramedRead::new(rd, CotCodec::default());
    let wait = st.limits.cot_first_event;
    let first = tokio::time::timeout(wait, frames.next()).await;
    let outcome = match first {
        Err(_) => Err(format!(
            "no event within {} s of connecting",
            wait.as_secs()
        )),
        Ok(None) => Ok(()),
        Ok(Some(Err(e))) => Err(format!("first event: {e}")),
        Ok(Some(Ok(f))) => match parse(&f) {
            Err(e) => Err(format!("first event refused: {e}")),
            Ok(ev) => match identify(&st, &relays, &ev, how, conn) {
                Err(reason) => Err(reason),
                Ok(Role::Sensor { sensor, principal }) => {
                    sensor_loop(&st, &mut frames, &sensor, &principal, conn, ev).await;
                    Ok(())
                }
                Ok(Role::Client { uid, principal }) => {
                    client_loop(&st, &relays, &mut frames, &uid, &principal, conn, &tx).await;
                    relays.leave(&principal.org, &uid, st.clock.now());
                    Ok(())
                }
            },
        },
    };
    if let Err(reason) = &outcome {
        st.metrics.cot_refused.inc();
        tracing::warn!("CoT {peer} (connection {conn}): refused: {reason}");
        let _ = tx.try_send(encode::refusal(st.clock.now(), reason).into());
    }
    drop(tx);
    let _ = writer.await;
}

fn identify(
    st: &AppState,
    relays: &Relays,
    ev: &CotEvent,
    how: Transport,
    conn: u64,
) -> Result<Role, String> {
    let (cert, clients) = match how {
        Transport::Tls(p) => (Some(p), true),
        Transport::Plain { clients } => (None, clients),
    };
    let principal = match (cert, &ev.token) {
        (Some(p), _) => p,
        (None, Some(t)) => st
            .tokens
            .lookup(t)
            .ok_or("unknown or revoked credential in the first event")?,
        (None, None) => {
            return Err(
                "the first event must authenticate: <detail><limes token=\"…\"/></detail>, or connect over TLS with a client certificate".into(),
            )
        }
    };
    if st.policy.may_send(&principal, &ev.uid) {
        return Ok(Role::Sensor {
            sensor: ev.uid.clone(),
            principal,
        });
    }
    if !clients {
        return Err(
            "TAK clients connect over TLS with a client certificate (plain TCP is for sensors)"
                .into(),
        );
    }
    if !principal.role.can_read() {
        return Err(format!(
            "uid {:?} is not a sensor this credential may send for, and it may not read",
            ev.uid
        ));
    }
    relays.join(&principal.org, &ev.uid, conn)?;
    Ok(Role::Client {
        uid: ev.uid.clone(),
        principal,
    })
}

async fn sensor_loop<R>(
    st: &AppState,
    frames: &mut FramedRead<R, CotCodec>,
    sensor: &str,
    principal: &Principal,
    conn: u64,
    first: CotEvent,
) where
    R: AsyncRead + Unpin,
{
    let mut index = 1u64;
    let mut refused = 0u64;
    let mut pending = vec![(index, first)];
    let mut ended: Option<Result<(), FrameError>> = None;
    loop {
        while pending.len() < MAX_BATCH && ended.is_none() {
            match frames.next().now_or_never() {
                None => break,
                Some(None) => ended = Some(Ok(())),
                Some(Some(Err(e))) => ended = Some(Err(e)),
                Some(Some(Ok(f))) => {
                    index += 1;
                    match parse(&f) {
                        Ok(ev) => pending.push((index, ev)),
                        Err(e) => {
                            note_refusal(st, &mut refused, conn, sensor, index, &e.to_string())
                        }
                    }
                }
            }
        }
        let mut batch = Batch::default();
        for (i, ev) in pending.drain(..) {
            let Some(rec) = to_record(sensor, &ev) else {
                continue;
            };
            match st.checker.check(&rec) {
                Ok(()) => batch.push_record(i as usize, rec),
                Err(e) => note_refusal(st, &mut refused, conn, sensor, i, &e.to_string()),
            }
        }
        if !batch.records.is_empty() {
            let n = batch.records.len();
            // Waits for durability (and for room in the queue) before reading on.
            match st.store.log(principal.actor(), batch).await {
                Ok(reply) => {
                    st.metrics.ingest_records.inc_by(reply.accepted as u64);
                    for e in &reply.rejected {
                        let text = format!("{}: {}", e.field, e.message);
                        note_refusal(st, &mut refused, conn, sensor, e.index as u64, &text);
                    }
                }
                Err(e) => {
                    tracing::warn!("CoT sensor {sensor}: {n} events not stored: {e}; closing");
                    return;
                }
            }
        }
        if let Some(end) = ended {
            if let Err(e) = end {
                tracing::warn!("CoT sensor {sensor} (connection {conn}): {e}; closing");
            }
            return;
        }
        let next = tokio::select! {
            n = frames.next() => n,
            () = st.shutdown.cancelled() => return,
        };
        match next {
            None => return,
            Some(Err(e)) => {
                tracing::warn!("CoT sensor {sensor} (connection {conn}): {e}; closing");
                return;
            }
            Some(Ok(f)) => {
                index += 1;
                match parse(&f) {
                    Ok(ev) => pending.push((index, ev)),
                    Err(e) => note_refusal(st, &mut refused, conn, sensor, index, &e.to_string()),
                }
            }
        }
    }
}

fn note_refusal(st: &AppState, n: &mut u64, conn: u64, who: &str, index: u64, what: &str) {
    st.metrics.ingest_rejected.inc();
    *n += 1;
    if *n <= LOGGED_REFUSALS || (*n).is_multiple_of(1000) {
        tracing::warn!(
            "CoT {who} (connection {conn}), event {index}: {what} ({n} refused on this connection)"
        );
    }
}

async fn client_loop<R>(
    st: &AppState,
    relays: &Relays,
    frames: &mut FramedRead<R, CotCodec>,
    uid: &str,
    principal: &Principal,
    conn: u64,
    tx: &mpsc::Sender<Arc<str>>,
) where
    R: AsyncRead + Unpin,
{
    let feed = tokio::spawn(client_feed(
        st.clone(),
        principal.clone(),
        conn,
        relays.clone(),
        tx.clone(),
    ));
    let mut feed = std::pin::pin!(feed);
    let mut refused = 0u64;
    let mut index = 1u64;
    loop {
        let next = tokio::select! {
            n = frames.next() => n,
            end = &mut feed => {
                if let Ok(FeedEnd::TooSlow) = end {
                    tracing::warn!("CoT client {uid} (connection {conn}): too slow to read its feed; closing");
                }
                return;
            }
        };
        let f = match next {
            None => break,
            Some(Err(e)) => {
                tracing::warn!("CoT client {uid} (connection {conn}): {e}; closing");
                break;
            }
            Some(Ok(f)) => f,
        };
        index += 1;
        let ev = match parse(&f) {
            Ok(ev) => ev,
            Err(e) => {
                note_refusal(st, &mut refused, conn, uid, index, &e.to_string());
                continue;
            }
        };
        if ev.kind == "t-x-c-t" {
            if tx.try_send(encode::pong(st.clock.now()).into()).is_err() {
                break;
            }
        } else if ev.kind.starts_with("a-") {
            relays.relay(&principal.org, uid, conn, &ev);
        }
    }
    feed.abort();
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
        ce: ev.ce,
        class,
        heat_m2: ev.heat_m2,
        count: ev.count,
    }))
}
