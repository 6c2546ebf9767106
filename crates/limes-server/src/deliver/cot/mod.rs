//! Cursor on Target to TAK clients: the encoder, and each client's feed — its organisation's
//! released picture, then every released change, the relayed position reports of the other
//! clients of its organisation, and nothing else.

pub mod encode;

use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

use super::feed::{Delivery, Feed};
use super::session::Session;
use crate::api::AppState;
use crate::auth::Principal;
use crate::cot::relay::Relays;
use crate::release::DataKind;

/// Why a client's feed ended.
#[derive(Debug, PartialEq, Eq)]
pub enum FeedEnd {
    /// The connection closed, or the server is shutting down.
    Closed,
    /// The client did not read fast enough; its queue filled.
    TooSlow,
}

/// Feeds one TAK client through `tx` until it goes away, falls behind, or the server stops.
pub async fn client_feed(
    st: AppState,
    p: Principal,
    conn: u64,
    relays: Relays,
    tx: mpsc::Sender<Arc<str>>,
) -> FeedEnd {
    let mut relayed = relays.subscribe();
    let mut feed = Feed::new(
        &st.hub,
        st.policy.clone(),
        p.org.clone(),
        vec![DataKind::Alert, DataKind::Facility, DataKind::Track],
        st.clock.now(),
        st.metrics.clone(),
    );
    let session = Session::open(st.audit_sink.clone(), st.metrics.clone(), p.actor(), "cot").await;
    for x in relays.positions(&p.org, conn, crate::clock::wall_now()) {
        if tx.try_send(x).is_err() {
            return FeedEnd::TooSlow;
        }
    }
    let site = st.site.name.clone();
    loop {
        tokio::select! {
            d = feed.next() => match d {
                None => return FeedEnd::Closed,
                Some(Delivery::Lagged(_)) => {}
                Some(Delivery::Item(r)) => {
                    let Some(xml) = encode::item(&site, &r, st.clock.now()) else { continue };
                    session.delivered(&r).await;
                    if tx.try_send(xml.into()).is_err() {
                        return FeedEnd::TooSlow;
                    }
                }
            },
            r = relayed.recv() => match r {
                Ok(r) if r.origin != conn && r.org == p.org => {
                    if tx.try_send(r.xml).is_err() {
                        return FeedEnd::TooSlow;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    st.metrics.lagged.inc_by(n);
                }
                Err(broadcast::error::RecvError::Closed) => return FeedEnd::Closed,
            },
            () = tx.closed() => return FeedEnd::Closed,
            () = st.shutdown.cancelled() => return FeedEnd::Closed,
        }
    }
}
