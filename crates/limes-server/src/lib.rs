//! `limes serve`: the live system. Sensors post records over HTTP or Cursor on Target; each
//! batch is made durable in the SQLite log (group commit) before it is acknowledged; one live
//! thread runs the core engine (tracker and rules) over the log; tracks, alerts and facility
//! status go to partner organisations through one release policy, over REST, a server-sent
//! event stream, CoT, CAP 1.2 and webhooks; every read and change is written to a hash-chained
//! audit log.
//!
//! The path is ingest → durable log → fuse → rules → deliver, as in the batch tools, with the same
//! [`limes_core::engine::Engine`].

pub mod api;
pub mod audit;
pub mod auth;
pub mod cap;
pub mod clock;
pub mod console;
pub mod cot;
pub mod hub;
pub mod ingest;
pub mod lifecycle;
pub mod live;
pub mod metrics;
pub mod release;
pub mod server;
pub mod store;
pub mod webhook;

pub use server::{ServeConfig, Server};

/// The snake_case name a serde enum serialises to (`Severity::High` → `high`).
pub fn snake<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
