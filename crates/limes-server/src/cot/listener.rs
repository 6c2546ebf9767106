//! The CoT listeners (plain TCP and TLS): accept within a cap on open connections (a
//! semaphore, as in mini-redis) and one per client address (so one address cannot take every
//! slot from the sensors), refuse beyond them at once, and stop on shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connection::Credential;
use super::relay::Relays;
use crate::api::AppState;
use crate::http::{AddressSlot, PerAddress};
use crate::pki::revoke::Sessions;

/// Seconds a TLS handshake may take.
const HANDSHAKE_S: u64 = 10;

/// Shared by every CoT listener.
#[derive(Clone)]
pub struct CotServer {
    st: AppState,
    relays: Relays,
    next_id: Arc<AtomicU64>,
    limit: Arc<Semaphore>,
    per_address: PerAddress,
    max_per_address: usize,
    sessions: Sessions,
}

/// A connection's hold on the caps: its slot of the total and of its address.
type Slots = (OwnedSemaphorePermit, AddressSlot);

impl CotServer {
    /// A CoT server over the API's state, with at most `max_connections` open at once and
    /// `max_per_address` from one address.
    pub fn new(st: AppState, max_connections: usize, max_per_address: usize) -> Self {
        Self {
            st,
            relays: Relays::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            limit: Arc::new(Semaphore::new(max_connections.max(1))),
            per_address: PerAddress::default(),
            max_per_address: max_per_address.max(1),
            sessions: Sessions::default(),
        }
    }

    /// Slots for a new connection from `peer`, or a WARN and the refusal counted.
    fn admit(&self, peer: SocketAddr, what: &str) -> Option<Slots> {
        let Some(address) = self.per_address.take(peer.ip(), self.max_per_address) else {
            self.st.metrics.connections_refused.inc();
            tracing::warn!(
                "{what} {peer}: refused, {} connections open from its address",
                self.max_per_address
            );
            return None;
        };
        let Ok(permit) = self.limit.clone().try_acquire_owned() else {
            self.st.metrics.connections_refused.inc();
            tracing::warn!("{what} {peer}: refused, {} connections open", self.open());
            return None;
        };
        Some((permit, address))
    }

    /// The open TLS connections by certificate, for the revocation watcher.
    pub fn sessions(&self) -> Sessions {
        self.sessions.clone()
    }

    async fn accept(&self, l: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
        loop {
            tokio::select! {
                r = l.accept() => match r {
                    Ok(x) => return Some(x),
                    Err(e) => {
                        // Out of file descriptors and the like: keep serving who is connected.
                        tracing::warn!("CoT accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = self.st.shutdown.cancelled() => return None,
            }
        }
    }

    /// Accepts plain TCP connections until shutdown; TAK clients only when `clients` is set.
    pub async fn serve(self, listener: TcpListener, clients: bool) {
        while let Some((sock, peer)) = self.accept(&listener).await {
            let Some(permit) = self.admit(peer, "CoT") else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            let me = self.clone();
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.st.tasks.spawn(async move {
                let cred = Credential::Plain { clients };
                super::connection::serve(me.st.clone(), me.relays.clone(), id, sock, peer, cred)
                    .await;
                drop(permit);
            });
        }
    }

    /// Accepts TLS connections until shutdown. The handshake requires a client certificate the
    /// deployment's CA signed; a refusal there can only be logged (WARN). After it, a
    /// certificate the registry does not know, or knows as revoked, is refused with an event.
    pub async fn serve_tls(self, listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
        while let Some((sock, peer)) = self.accept(&listener).await {
            let Some(permit) = self.admit(peer, "CoT TLS") else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            let (me, acceptor) = (self.clone(), acceptor.clone());
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.st.tasks.spawn(async move {
                let tls = match tokio::time::timeout(
                    Duration::from_secs(HANDSHAKE_S),
                    acceptor.accept(sock),
                )
                .await
                {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        me.st.metrics.cot_refused.inc();
                        return tracing::warn!("CoT TLS {peer}: handshake refused: {e}");
                    }
                    Err(_) => {
                        me.st.metrics.cot_refused.inc();
                        return tracing::warn!("CoT TLS {peer}: handshake timed out");
                    }
                };
                let der = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.as_ref().to_vec())
                    .unwrap_or_default();
                let (session, cred) = match super::tls::identify(&me.st, &der).await {
                    Ok((principal, serial)) => {
                        let session = me.sessions.open(&serial, id);
                        let revoked = session.revoked.clone();
                        (Some(session), Credential::Cert { principal, revoked })
                    }
                    Err(reason) => (None, Credential::Refused(reason)),
                };
                super::connection::serve(me.st.clone(), me.relays.clone(), id, tls, peer, cred)
                    .await;
                drop(session);
                drop(permit);
            });
        }
    }

    fn open(&self) -> usize {
        self.limit
            .available_permits()
            .abs_diff(self.st.limits.cot_connections)
    }
}
