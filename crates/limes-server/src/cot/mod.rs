//! Cursor on Target over TCP and TLS: sensors and TAK clients in, tracks and alerts out.

pub mod frame;
pub mod parse;
pub mod server;
pub mod tls;
pub mod write;

pub use frame::Framer;
pub use parse::{parse, CotError, CotEvent};
