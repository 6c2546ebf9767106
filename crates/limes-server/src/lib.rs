//! `limes serve`: the live system. Sensors post records over HTTP or Cursor on Target; each
//! batch is checked and made durable in the SQLite log (group commit) before it is
//! acknowledged; one supervised thread runs the core engine (tracker and rules) over the log;
//! the hub holds the live picture; tracks, alerts and facility status are delivered to partner
//! organisations through one release policy, over REST, a server-sent event stream, CoT, CAP
//! 1.2 and webhooks; every read and change is written to a hash-chained audit log.
//!
//! The path, one folder or file per stage: [`ingest`] and [`cot`] (in) → [`store`] (the
//! durable log) → [`live`] (the core [`limes_core::engine::Engine`]) → [`hub`] → [`release`]
//! → [`deliver`] (SSE, CoT, CAP, webhooks) and [`api`] (REST).

pub mod api;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod console;
pub mod cot;
pub mod deliver;
pub mod health;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod lifecycle;
pub mod live;
pub mod metrics;
pub mod pki;
pub mod release;
pub mod server;
pub mod store;
pub mod xml;

pub use server::{ServeConfig, Server, ServerError};
