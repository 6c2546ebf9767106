//! The request-body extractor and the shares that bound what bodies hold: each organisation
//! has a share of memory for its requests' bodies ([`BodyShares`]), of which one credential
//! may hold half. A body takes its memory in both as its bytes arrive and holds it until its
//! request is answered.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ApiError, AppState};
use crate::auth::Principal;

/// Largest ingest body accepted, bytes.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Largest body of any other request (an acknowledgement, a facility update, a token), and of
/// an ingest request by a credential that may not send records, bytes.
pub const SMALL_BODY: usize = 64 * 1024;

/// Longest a request waits for room in its shares before it gets 429.
pub const BODY_ROOM_WAIT: Duration = Duration::from_secs(1);

/// Bodies are copied, as they arrive, into buffers of this size (the first is smaller), so
/// what a body holds is what it is charged, whatever size of pieces the client sends.
const CHUNK: usize = 64 * 1024;
/// The first buffer of a body: most bodies are small.
const FIRST_CHUNK: usize = 4 * 1024;

/// Bytes of a too-large body read (and dropped) before its 413, so that a client still
/// sending it reads the answer; a larger one is answered at once (within the body timeout).
const DRAIN: usize = 8 * MAX_BODY;

/// Bytes of request bodies each organisation may hold at once, from their first byte until
/// their request is answered, and half of that for each credential. One organisation's
/// clients — however many addresses and credentials they have — fill only its own share, and
/// one credential only half of it; together the server holds at most one share per
/// organisation of the site.
#[derive(Clone, Debug)]
pub struct BodyShares {
    each: usize,
    orgs: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    credentials: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl BodyShares {
    /// Shares of `each` bytes per organisation (raised so that a credential's half holds the
    /// largest body).
    pub fn new(each: usize) -> Self {
        Self {
            each: each.max(2 * (MAX_BODY + CHUNK)),
            orgs: Arc::default(),
            credentials: Arc::default(),
        }
    }

    /// Bytes of its share an organisation's bodies hold now.
    pub fn held(&self, org: &str) -> usize {
        self.each - self.org(org).available_permits()
    }

    fn org(&self, org: &str) -> Arc<Semaphore> {
        // Organisations come from the site: there are few.
        let mut m = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(org.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.each)))
            .clone()
    }

    fn credential(&self, credential: &str) -> Arc<Semaphore> {
        let mut m = self.credentials.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= 1024 {
            // Forget credentials that hold nothing now (only the map has them).
            m.retain(|_, s| Arc::strong_count(s) > 1);
        }
        m.entry(credential.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.each / 2)))
            .clone()
    }
}

/// A request body, read within its limit ([`MAX_BODY`] for ingest by a credential that may
/// send records, [`SMALL_BODY`] otherwise) and, as a whole, within the body timeout; too large,
/// too slow or broken bodies get the API's JSON error, not a plain-text one. Its bytes are
/// charged to the sender's shares ([`BodyShares`]) as they arrive, so a client holds only what
/// it has sent (a trickled body holds next to nothing); the room is held (the second field)
/// until the request is answered. A body that finds no room within [`BODY_ROOM_WAIT`] is read
/// to its end and discarded, and its request gets 429 (as when the ingest queue is full).
pub struct Body<const LIMIT: usize = SMALL_BODY>(pub Bytes, pub Held);

/// Room a body holds in its shares, given back when its request is answered.
#[derive(Default)]
pub struct Held {
    credential: Option<OwnedSemaphorePermit>,
    org: Option<OwnedSemaphorePermit>,
}

impl Held {
    fn add(&mut self, credential: OwnedSemaphorePermit, org: OwnedSemaphorePermit) {
        match (self.credential.as_mut(), self.org.as_mut()) {
            (Some(c), Some(o)) => {
                c.merge(credential);
                o.merge(org);
            }
            _ => (self.credential, self.org) = (Some(credential), Some(org)),
        }
    }
}

impl<const LIMIT: usize> FromRequest<AppState> for Body<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The caller, as its extractor (which runs first) left it; the largest bodies are for
        // credentials that may send records.
        let shares = &state.limits.body_shares;
        let (org, credential, large) = match req.extensions().get::<Principal>() {
            Some(p) => (
                shares.org(&p.org),
                shares.credential(&p.actor()),
                p.role.can_ingest(),
            ),
            None => (shares.org(""), shares.credential(""), false),
        };
        let limit = if large { LIMIT } else { LIMIT.min(SMALL_BODY) };
        let deadline = state.limits.body_timeout;
        let read = tokio::time::timeout(deadline, arrive(req.into_body(), limit, credential, org));
        match read.await {
            Ok(Ok(Some((bytes, held)))) => Ok(Body(bytes, held)),
            Ok(Ok(None)) => {
                state.metrics.bodies_refused.inc();
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "request bodies of your credential or organisation fill their share of the \
                     server's memory; send it again",
                ))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s; send it again",
                    deadline.as_secs()
                ),
            )),
        }
    }
}

/// Whether reading a body failed because its time (`--body-timeout-s`) ran out, anywhere in
/// the error's chain of sources.
pub(crate) fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(x) = at {
        if x.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        at = x.source();
    }
    false
}

/// The answer to a body that stopped arriving before its time ran out: 408.
pub(crate) fn stopped_arriving() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "the body stopped arriving; send it again",
    )
}

/// Reads a body part by part into buffers charged to the shares; `None` when they had no room
/// (the rest was read and dropped, so the client hears the 429 rather than a reset).
async fn arrive(
    body: axum::body::Body,
    limit: usize,
    credential: Arc<Semaphore>,
    org: Arc<Semaphore>,
) -> Result<Option<(Bytes, Held)>, ApiError> {
    let mut parts = body.into_data_stream();
    // What is kept so far; `None` once the body is dropped (too large, or no room).
    let mut kept = Some(Kept::default());
    let (mut total, mut over) = (0usize, false);
    while let Some(part) = parts.next().await {
        let part = part.map_err(|e| {
            let inner = e.into_inner();
            if timed_out(inner.as_ref()) {
                stopped_arriving()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body could not be read: {inner}"),
                )
            }
        })?;
        total += part.len();
        if total > limit {
            // Read on and drop the rest, so a stock client still sending hears the reason
            // rather than a reset; past DRAIN the 413 goes out at once.
            (over, kept) = (true, None);
            if total > DRAIN {
                break;
            }
        }
        if let Some(k) = kept.as_mut() {
            if !k.add(&part, &credential, &org).await {
                // Give back what this body holds at once: another body of the same
                // credential or organisation waiting for room may then finish.
                kept = None;
            }
        }
    }
    if over {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes; send smaller batches"),
        ));
    }
    Ok(kept.map(|k| k.into_body(total)))
}

/// A body's bytes kept so far: buffers filled, the one being filled, and their room.
#[derive(Default)]
struct Kept {
    full: Vec<Bytes>,
    buf: BytesMut,
    held: Held,
}

impl Kept {
    /// Copies a part in, taking room for each new buffer; false when there was none.
    async fn add(
        &mut self,
        part: &[u8],
        credential: &Arc<Semaphore>,
        org: &Arc<Semaphore>,
    ) -> bool {
        let mut rest = part;
        while !rest.is_empty() {
            if self.buf.capacity() == self.buf.len() {
                let first = self.full.is_empty() && self.buf.is_empty();
                let size = if first { FIRST_CHUNK } else { CHUNK };
                let Some((c, o)) = room(credential, org, size).await else {
                    return false;
                };
                self.held.add(c, o);
                if !self.buf.is_empty() {
                    self.full.push(self.buf.split().freeze());
                }
                self.buf = BytesMut::with_capacity(size);
            }
            let n = rest.len().min(self.buf.capacity() - self.buf.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        true
    }

    /// The whole body (`total` bytes) and the room it holds.
    fn into_body(self, total: usize) -> (Bytes, Held) {
        let bytes = if self.full.is_empty() {
            self.buf.freeze()
        } else {
            // One copy into a buffer of the exact size.
            let mut all = BytesMut::with_capacity(total);
            self.full.iter().for_each(|b| all.extend_from_slice(b));
            all.extend_from_slice(&self.buf);
            all.freeze()
        };
        (bytes, self.held)
    }
}

/// `size` bytes in the credential's and the organisation's shares, waiting at most
/// [`BODY_ROOM_WAIT`] for them.
async fn room(
    credential: &Arc<Semaphore>,
    org: &Arc<Semaphore>,
    size: usize,
) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
    let n = u32::try_from(size).ok()?;
    let both = async {
        let c = credential.clone().acquire_many_owned(n).await.ok()?;
        let o = org.clone().acquire_many_owned(n).await.ok()?;
        Some((c, o))
    };
    tokio::time::timeout(BODY_ROOM_WAIT, both)
        .await
        .ok()
        .flatten()
}
