//! The HTTP listeners: accept within a cap on open connections and a cap per client address
//! (so one address cannot take every slot from the operators), close a connection that does
//! not send a whole request head within the header timeout (slowloris, idle keep-alive), and
//! stop gracefully on shutdown. Bodies are bounded in size and time by the router's layers.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Bounds of one HTTP listener.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// Connections open at once.
    pub connections: usize,
    /// Connections open at once from one client address.
    pub per_address: usize,
    /// Seconds a client has to send a whole request head (also the idle limit between requests).
    pub header_timeout: Duration,
}

/// Counts open connections per client address; a slot is given back when its guard drops.
/// (The HTTP and CoT listeners each keep one.)
#[derive(Clone, Default)]
pub(crate) struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection's slot of its address; given back when dropped.
pub(crate) struct AddressSlot(PerAddress, IpAddr);

impl PerAddress {
    /// A slot for one more connection from `ip`, unless it has `max` open.
    pub(crate) fn take(&self, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = (self.0).0.lock() {
            if let Some(n) = m.get_mut(&self.1) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.1);
                }
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, then waits (at most `grace`) for open
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: Metrics,
    shutdown: CancellationToken,
    grace: Duration,
) {
    serve_with(listener, None, router, limits, metrics, shutdown, grace).await;
}

/// [`serve`] over TLS: the handshake, too, must finish within the header timeout.
pub async fn serve_tls(
    listener: TcpListener,
    tls: TlsAcceptor,
    router: Router,
    limits: HttpLimits,
    metrics: Metrics,
    shutdown: CancellationToken,
    grace: Duration,
) {
    serve_with(
        listener,
        Some(tls),
        router,
        limits,
        metrics,
        shutdown,
        grace,
    )
    .await;
}

async fn serve_with(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: HttpLimits,
    metrics: Metrics,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let slots = Arc::new(Semaphore::new(limits.connections.max(1)));
    let per = PerAddress::default();
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving who is connected.
                    tracing::warn!("HTTP accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Some(addr_slot) = per.take(peer.ip(), limits.per_address) else {
            metrics.connections_refused.inc();
            tracing::info!(
                "HTTP {peer}: refused, {} connections from this address",
                limits.per_address
            );
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            tracing::warn!(
                "HTTP {peer}: refused, {} connections open",
                limits.connections
            );
            continue;
        };
        let _ = sock.set_nodelay(true);
        let svc =
            TowerToHyperService::new(router.clone().layer(axum::Extension(ConnectInfo(peer))));
        let Some(tls) = tls.clone() else {
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(sock), svc));
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("HTTP {peer}: {e}");
                }
                drop(permit);
                drop(addr_slot);
            });
            continue;
        };
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let timeout = limits.header_timeout;
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, tls.accept(sock)).await {
                Ok(Ok(s)) => {
                    let conn = watcher.watch(builder.serve_connection(TokioIo::new(s), svc));
                    if let Err(e) = conn.await {
                        tracing::debug!("HTTPS {peer}: {e}");
                    }
                }
                Ok(Err(e)) => tracing::warn!("HTTPS {peer}: TLS handshake refused: {e}"),
                Err(_) => tracing::warn!("HTTPS {peer}: TLS handshake timed out"),
            }
            drop(permit);
            drop(addr_slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP: connections still open after {grace:?}; closing them");
    }
}

/// The address of a request's peer.
pub type Peer = ConnectInfo<SocketAddr>;
