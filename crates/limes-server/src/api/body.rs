//! The request-body extractor and the two budgets that bound what bodies hold: each
//! organisation's share of bytes arriving or being answered ([`OrgBodies`]), and the server's
//! budget of arrived bodies being parsed and answered ([`super::Limits::body_budget`]).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ApiError, AppState};

/// Largest request body accepted, bytes.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Longest a request waits for room in a body budget before it gets 429.
pub const BODY_ROOM_WAIT: Duration = Duration::from_secs(1);

/// The organisation a request's body is counted against (set by the caller's extractor).
#[derive(Clone, Debug)]
pub(crate) struct Sender(pub(crate) String);

/// Bytes of request bodies each organisation may hold at once, from their first byte until
/// their request is answered. One organisation's clients — however many addresses and
/// credentials it has — can fill only its own share, never another's; all of them together
/// hold at most one share per organisation of the site.
#[derive(Clone, Debug)]
pub struct OrgBodies {
    each: usize,
    shares: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl OrgBodies {
    /// Shares of `each` bytes (at least [`MAX_BODY`], so the largest body always fits).
    pub fn new(each: usize) -> Self {
        Self {
            each: each.max(MAX_BODY),
            shares: Arc::default(),
        }
    }

    /// The share of an organisation (made on its first body: organisations come from the site,
    /// so there are few).
    fn share(&self, org: &str) -> Arc<Semaphore> {
        let mut m = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(org.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.each)))
            .clone()
    }

    /// Bytes of its share an organisation has free now.
    pub fn free(&self, org: &str) -> usize {
        self.share(org).available_permits()
    }
}

/// A request body, read within [`MAX_BODY`] and, as a whole, within the body timeout; too
/// large, too slow or broken bodies get the API's JSON error, not a plain-text one. Each part
/// takes its bytes in the sender's organisation's share ([`OrgBodies`]) as it arrives, so a
/// client holds only what it has sent (a trickled body holds next to nothing); once arrived,
/// the body also takes its size in the server's budget of bodies being parsed
/// ([`super::Limits::body_budget`]). Both are held (the second field) until the request is
/// answered. A body that finds no room within [`BODY_ROOM_WAIT`] is read to its end and
/// discarded, and its request gets 429 (as when the ingest queue is full).
pub struct Body(pub Bytes, pub Held);

/// Room a body holds in the budgets, given back when its request is answered.
pub struct Held {
    _share: Option<OwnedSemaphorePermit>,
    _parse: OwnedSemaphorePermit,
}

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let org = req
            .extensions()
            .get::<Sender>()
            .map_or_else(String::new, |s| s.0.clone());
        let share = state.limits.org_bodies.share(&org);
        let deadline = state.limits.body_timeout;
        let read = tokio::time::timeout(deadline, arrive(req.into_body(), share));
        let (bytes, share) = match read.await {
            Ok(Ok(Some(b))) => b,
            Ok(Ok(None)) => {
                state.metrics.bodies_refused.inc();
                return Err(no_room(
                    "your organisation's request bodies fill its share of the server's memory",
                ));
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(too_slow(deadline)),
        };
        let kib = bytes.len().div_ceil(1024).max(1) as u32;
        let room = state.limits.body_budget.clone().acquire_many_owned(kib);
        let parse = match tokio::time::timeout(BODY_ROOM_WAIT, room).await {
            Ok(Ok(p)) => p,
            _ => {
                state.metrics.bodies_refused.inc();
                return Err(no_room("the server holds as many request bodies as it may"));
            }
        };
        Ok(Body(
            bytes,
            Held {
                _share: share,
                _parse: parse,
            },
        ))
    }
}

/// Reads a body part by part, each taking its bytes in `share`; `None` when the share had no
/// room (the rest was read and dropped, so the client hears the 429 rather than a reset).
async fn arrive(
    body: axum::body::Body,
    share: Arc<Semaphore>,
) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, ApiError> {
    let mut parts = body.into_data_stream();
    let mut got: Vec<Bytes> = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    let (mut total, mut refused) = (0usize, false);
    while let Some(part) = parts.next().await {
        let part = part.map_err(|e| {
            let inner = e.into_inner();
            if inner.is::<tower_http::timeout::TimeoutError>() {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body stopped arriving; send it again",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body could not be read: {inner}"),
                )
            }
        })?;
        total += part.len();
        if total > MAX_BODY {
            return Err(too_large());
        }
        if refused || part.is_empty() {
            continue;
        }
        // A part is at most MAX_BODY bytes, well within u32.
        let n = u32::try_from(part.len()).unwrap_or(u32::MAX);
        let room = match share.clone().try_acquire_many_owned(n) {
            Ok(p) => Some(p),
            Err(_) => tokio::time::timeout(BODY_ROOM_WAIT, share.clone().acquire_many_owned(n))
                .await
                .ok()
                .and_then(Result::ok),
        };
        let Some(room) = room else {
            // Give back what this body holds at once: another of the organisation's bodies
            // waiting for room may then finish.
            (refused, held, got) = (true, None, Vec::new());
            continue;
        };
        match held.as_mut() {
            Some(h) => h.merge(room),
            None => held = Some(room),
        }
        got.push(part);
    }
    if refused {
        return Ok(None);
    }
    // One copy into a buffer of the exact size (a growing buffer would hold up to twice it).
    let bytes = if got.len() == 1 {
        got.swap_remove(0)
    } else {
        let mut buf = BytesMut::with_capacity(total);
        got.iter().for_each(|p| buf.extend_from_slice(p));
        buf.freeze()
    };
    Ok(Some((bytes, held)))
}

fn no_room(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("{why}; send it again"),
    )
}

fn too_slow(deadline: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the body did not arrive within {} s; send it again",
            deadline.as_secs()
        ),
    )
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {MAX_BODY} bytes; send smaller batches"),
    )
}
