//! One CoT connection. Its first event identifies and authenticates it (a token in
//! `<detail><limes token="…"/>` over plain TCP, or the TLS client certificate the deployment
//! issued) and must arrive within the configured time (`--cot-first-event-s`). A connection
//! whose uid is a site sensor and whose credential may ingest
//! is a *sensor*: its events become records, made durable before more is read, so TCP flow
//! control is the backpressure. Any other is a *TAK client*: it receives what its
//! organisation is released, gets `t-x-c-t-r` for each ping, and its own position reports
//! are relayed to the other clients of its organisation. Plain TCP serves TAK clients only
//! when the server allows it (`--cot-clients`); otherwise they are told to use TLS. A refused
//! connection — bad credential, revoked certificate (also while connected) — is sent an event
//! saying why, then closed, and the server logs the reason at WARN.

use futures::{FutureExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::frame::{CotCodec, FrameError};
use super::parse::{parse, CotEvent};
use super::record::to_record;
use super::relay::Relays;
use crate::api::AppState;
use crate::auth::Principal;
use crate::deliver::cot::{client_feed, encode, FeedEnd};
use crate::ingest::{Batch, IngestReply};
use crate::store::{Backoff, StoreError};

/// Events queued for one client before it is judged too slow and disconnected.
pub const CLIENT_QUEUE: usize = 4096;

/// Longest a write to a CoT peer may wait for the peer to read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Events of one sensor connection logged in one batch at most.
const MAX_BATCH: usize = 4096;

/// Refused events of one connection that are logged one by one (then every 1000th).
const LOGGED_REFUSALS: u64 = 10;

/// What a connection is, once identified.
enum Role {
    Sensor {
        sensor: String,
        principal: Principal,
    },
    Client {
        principal: Principal,
    },
}

/// Seconds a refused connection is read from (and what it sends thrown away) after the refusal
/// is written, so that closing does not reset the connection before the client has read why.
const LINGER_S: u64 = 2;

/// How a connection authenticates.
pub enum Credential {
    /// Plain TCP: the first event carries a token. `clients`: TAK clients (credentials that
    /// read) are served too, not only sensors.
    Plain {
        /// Whether TAK clients are served over plain TCP (`--cot-clients`).
        clients: bool,
    },
    /// TLS with a client certificate the deployment issued and has not revoked.
    Cert {
        /// Who it stands for.
        principal: Principal,
        /// Cancelled when the certificate is revoked.
        revoked: CancellationToken,
    },
    /// TLS with a certificate that is refused; the reason is sent to the client.
    Refused(String),
}

/// Serves one connection to its end.
pub async fn serve<S>(
    st: AppState,
    relays: Relays,
    conn: u64,
    sock: S,
    peer: SocketAddr,
    cred: Credential,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(sock);
    let (tx, mut rx) = mpsc::channel::<Arc<str>>(CLIENT_QUEUE);
    let metrics = st.metrics.clone();
    let writer = tokio::spawn(async move {
        while let Some(x) = rx.recv().await {
            match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(x.as_bytes())).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => {
                    // A peer that reads nothing for this long holds a slot and the events queued
                    // for it: it is cut, not waited for.
                    metrics.cot_slow_clients.inc();
                    tracing::warn!(
                        "CoT {peer} (connection {conn}): read nothing for {} s; closing",
                        WRITE_TIMEOUT.as_secs()
                    );
                    return;
                }
            }
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.shutdown()).await;
    });
    let mut frames = FramedRead::new(rd, CotCodec::default());
    let revoked = match &cred {
        Credential::Cert { revoked, .. } => revoked.clone(),
        _ => CancellationToken::new(),
    };
    let outcome = match &cred {
        Credential::Refused(reason) => Err(reason.clone()),
        _ => first_event(&st, &relays, &mut frames, &cred, &revoked, conn, &tx).await,
    };
    let refused = outcome.is_err();
    if let Err(reason) = &outcome {
        st.metrics.cot_refused.inc();
        tracing::warn!("CoT {peer} (connection {conn}): refused: {reason}");
        let _ = tx.try_send(encode::refusal(st.clock.now(), reason).into());
    }
    drop(tx);
    let _ = writer.await;
    if refused {
        linger(&st, &mut frames).await;
    }
}

/// Reads the first event and serves the connection as what it identifies; `Err` with the
/// reason when it is refused or cut.
async fn first_event<R>(
    st: &AppState,
    relays: &Relays,
    frames: &mut FramedRead<R, CotCodec>,
    cred: &Credential,
    revoked: &CancellationToken,
    conn: u64,
    tx: &mpsc::Sender<Arc<str>>,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
{
    let wait = st.limits.cot_first_event;
    let first = tokio::select! {
        f = tokio::time::timeout(wait, frames.next()) => f,
        () = revoked.cancelled() => return Err(REVOKED.into()),
    };
    let ev = match first {
        Err(_) => {
            return Err(format!(
                "no event within {} s of connecting",
                wait.as_secs()
            ))
        }
        Ok(None) => return Ok(()),
        Ok(Some(Err(e))) => return Err(format!("first event: {e}")),
        Ok(Some(Ok(f))) => parse(&f).map_err(|e| format!("first event refused: {e}"))?,
    };
    let role = identify(st, &ev, cred)?;
    // A token revoked while the connection is open cuts it as a revoked certificate does.
    let watcher = {
        let principal = match &role {
            Role::Sensor { principal, .. } | Role::Client { principal } => principal.clone(),
        };
        let (tokens, revoked) = (st.tokens.clone(), revoked.clone());
        tokio::spawn(async move {
            tokens.revoked(&principal).await;
            revoked.cancel();
        })
    };
    let end = match role {
        Role::Sensor { sensor, principal } => {
            let me = Sensor {
                id: &sensor,
                principal: &principal,
                conn,
                replies: tx,
            };
            sensor_loop(st, frames, &me, ev, revoked).await
        }
        Role::Client { principal } => {
            client_loop(st, relays, frames, &principal, conn, tx, revoked, ev).await
        }
    };
    watcher.abort();
    end
}

/// What a connection whose certificate (or token) is revoked while it is open is told.
const REVOKED: &str = "your certificate has been revoked";

/// After a refusal: reads (and drops) what the client still sends, until it closes, for at
/// most [`LINGER_S`] or until shutdown, so the refusal is not lost to a connection reset.
async fn linger<R>(st: &AppState, frames: &mut FramedRead<R, CotCodec>)
where
    R: AsyncRead + Unpin,
{
    let drain = async { while let Some(Ok(_)) = frames.next().await {} };
    tokio::select! {
        _ = tokio::time::timeout(Duration::from_secs(LINGER_S), drain) => {}
        () = st.shutdown.cancelled() => {}
    }
}

/// What a TAK client on plain TCP is told when the server serves clients only over TLS.
const USE_TLS: &str = "TAK clients connect over TLS with their own client certificate (limes cert issue, or enrolment); this plain-TCP port takes sensors only";

fn identify(st: &AppState, ev: &CotEvent, cred: &Credential) -> Result<Role, String> {
    let principal = match (cred, &ev.token) {
        (Credential::Cert { principal, .. }, _) => principal.clone(),
        (Credential::Refused(reason), _) => return Err(reason.clone()),
        (Credential::Plain { .. }, Some(t)) => st
            .tokens
            .lookup(t)
            .ok_or("unknown or revoked credential in the first event")?,
        (Credential::Plain { clients: false }, None) => {
            return Err(format!(
                "{USE_TLS}, with <detail><limes token=\"…\"/></detail> in their first event"
            ))
        }
        (Credential::Plain { clients: true }, None) => {
            return Err(
                "the first event must authenticate: <detail><limes token=\"…\"/></detail>, or connect over TLS with a client certificate".into(),
            )
        }
    };
    if let Some(sensor) = principal.sensor.clone() {
        // A sensor's own certificate speaks for that sensor, whatever its first event's uid.
        if st.policy.may_send(&principal, &sensor) {
            return Ok(Role::Sensor { sensor, principal });
        }
        return Err(format!(
            "sensor {sensor:?} is not one this credential may send for"
        ));
    }
    if st.policy.may_send(&principal, &ev.uid) {
        return Ok(Role::Sensor {
            sensor: ev.uid.clone(),
            principal,
        });
    }
    if !principal.role.can_read() {
        return Err(format!(
            "uid {:?} is not a sensor this credential may send for, and it may not read",
            ev.uid
        ));
    }
    if let Credential::Plain { clients: false } = cred {
        return Err(USE_TLS.into());
    }
    Ok(Role::Client { principal })
}

/// A sensor connection, once identified.
struct Sensor<'a> {
    /// The sensor it sends for.
    id: &'a str,
    /// Its credential.
    principal: &'a Principal,
    /// The connection's number (in logs).
    conn: u64,
    /// Its writer: the replies to its pings.
    replies: &'a mpsc::Sender<Arc<str>>,
}

/// A sensor's connection until it ends (`Ok`) or its certificate is revoked (`Err`). Its
/// pings are answered, as a TAK server does, so a device that watches its link by them does
/// not drop it.
async fn sensor_loop<R>(
    st: &AppState,
    frames: &mut FramedRead<R, CotCodec>,
    me: &Sensor<'_>,
    first: CotEvent,
    revoked: &CancellationToken,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
{
    let (sensor, principal, conn) = (me.id, me.principal, me.conn);
    let mut index = 1u64;
    let mut refused = 0u64;
    let mut deaf = false;
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
            if ev.kind == "t-x-c-t" {
                // Its replies are only these. A sensor that has left 4,096 unread is not
                // watching its link: its pings go unanswered (logged once), but what it sends
                // is still stored, never dropped for that. It is counted as a slow client when
                // its writer gives up waiting on it (`WRITE_TIMEOUT`), once.
                let sent = me.replies.try_send(encode::pong(st.clock.now()).into());
                if let Err(mpsc::error::TrySendError::Full(_)) = sent {
                    if !deaf {
                        deaf = true;
                        tracing::warn!("CoT sensor {sensor} (connection {conn}): does not read the replies to its pings; they go unanswered");
                    }
                }
                // A ping under the sensor's own uid is also its heartbeat (below).
            }
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
            match log_until_stored(st, principal, sensor, batch, revoked).await {
                None if revoked.is_cancelled() => return Err(REVOKED.into()),
                None => return Ok(()),
                Some(Ok(reply)) => {
                    st.metrics.ingest_records.inc_by(reply.accepted as u64);
                    for e in &reply.rejected {
                        let text = format!("{}: {}", e.field, e.message);
                        note_refusal(st, &mut refused, conn, sensor, e.index as u64, &text);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!("CoT sensor {sensor}: {n} events not stored: {e}; closing");
                    return Ok(());
                }
            }
        }
        if let Some(end) = ended {
            if let Err(e) = end {
                tracing::warn!("CoT sensor {sensor} (connection {conn}): {e}; closing");
            }
            return Ok(());
        }
        if revoked.is_cancelled() {
            return Err(REVOKED.into());
        }
        let next = tokio::select! {
            n = frames.next() => n,
            () = st.shutdown.cancelled() => return Ok(()),
            () = revoked.cancelled() => return Err(REVOKED.into()),
        };
        match next {
            None => return Ok(()),
            Some(Err(e)) => {
                tracing::warn!("CoT sensor {sensor} (connection {conn}): {e}; closing");
                return Ok(());
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

/// Logs a sensor's batch, sending it again while the store cannot take it for now (a full disk,
/// a failing commit): a CoT sensor is never told what was stored, so a batch dropped here would
/// be lost without a trace. Meanwhile the connection is not read, and TCP holds the sensor back.
/// `None` when the server stops or the credential is revoked first.
async fn log_until_stored(
    st: &AppState,
    principal: &Principal,
    sensor: &str,
    batch: Batch,
    revoked: &CancellationToken,
) -> Option<Result<IngestReply, StoreError>> {
    let mut backoff = Backoff::default();
    loop {
        match st.store.log(principal.actor(), batch.clone()).await {
            Err(e) if e.may_succeed_later() => {
                let wait = backoff.next_wait();
                tracing::warn!(
                    "CoT sensor {sensor}: {} events not stored ({e}); sent again in {} ms",
                    batch.records.len(),
                    wait.as_millis()
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = st.shutdown.cancelled() => return None,
                    () = revoked.cancelled() => return None,
                }
            }
            r => return Some(r),
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

/// A TAK client's connection until it ends (`Ok`), or is refused or its certificate revoked
/// (`Err`). The client's uid is that of its first position report (`a-…`), which registers it
/// with its organisation's relay; a ping's uid (`takPing`) is not the client's.
#[allow(clippy::too_many_arguments)]
async fn client_loop<R>(
    st: &AppState,
    relays: &Relays,
    frames: &mut FramedRead<R, CotCodec>,
    principal: &Principal,
    conn: u64,
    tx: &mpsc::Sender<Arc<str>>,
    revoked: &CancellationToken,
    first: CotEvent,
) -> Result<(), String>
where
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
    let mut uid: Option<String> = None;
    let mut replaced: Option<CancellationToken> = None;
    let mut pending = Some(first);
    let end = loop {
        let who = uid.as_deref().unwrap_or("(no position yet)");
        let ev = match pending.take() {
            Some(ev) => ev,
            None => {
                let taken_over = async {
                    match &replaced {
                        Some(t) => t.cancelled().await,
                        None => std::future::pending().await,
                    }
                };
                let next = tokio::select! {
                    n = frames.next() => n,
                    end = &mut feed => {
                        if let Ok(FeedEnd::TooSlow) = end {
                            st.metrics.cot_slow_clients.inc();
                            tracing::warn!("CoT client {who} (connection {conn}): too slow to read its feed; closing");
                        }
                        break Ok(());
                    }
                    () = revoked.cancelled() => break Err(REVOKED.to_string()),
                    () = taken_over => {
                        tracing::info!("CoT client {who} (connection {conn}): the same device connected again; closing this connection");
                        break Ok(());
                    }
                };
                let f = match next {
                    None => break Ok(()),
                    Some(Err(e)) => {
                        tracing::warn!("CoT client {who} (connection {conn}): {e}; closing");
                        break Ok(());
                    }
                    Some(Ok(f)) => f,
                };
                index += 1;
                match parse(&f) {
                    Ok(ev) => ev,
                    Err(e) => {
                        note_refusal(st, &mut refused, conn, who, index, &e.to_string());
                        continue;
                    }
                }
            }
        };
        if ev.kind == "t-x-c-t" {
            if tx.try_send(encode::pong(st.clock.now()).into()).is_err() {
                st.metrics.cot_slow_clients.inc();
                tracing::warn!(
                    "CoT client {who} (connection {conn}): does not read its replies; closing"
                );
                break Ok(());
            }
        } else if ev.kind.starts_with("a-") {
            let own = match &uid {
                Some(u) => u.clone(),
                None => {
                    match relays.join(&principal.org, &ev.uid, conn, &principal.via) {
                        Ok(t) => replaced = Some(t),
                        Err(e) => break Err(e),
                    }
                    uid = Some(ev.uid.clone());
                    ev.uid.clone()
                }
            };
            if !relays.relay(&principal.org, &own, conn, &ev, crate::clock::wall_now()) {
                st.metrics.relay_refused.inc();
            }
        }
    };
    feed.abort();
    if let Some(u) = &uid {
        relays.leave(&principal.org, u, conn, st.clock.now());
    }
    end
}
