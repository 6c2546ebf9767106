//! Cursor on Target over TCP and TLS, the input side: framing ([`frame`], a codec), parsing
//! ([`parse()`]), what a sensor's event stands for ([`record`]), the listeners with their connection cap ([`listener`]), one connection's life
//! ([`connection`]) and what TAK clients share with each other ([`relay`]). What is sent to
//! TAK clients is encoded in [`crate::deliver::cot`].

pub mod connection;
pub mod frame;
pub mod listener;
pub mod parse;
pub mod record;
pub mod relay;
pub mod tls;

pub use frame::{CotCodec, FrameError};
pub use listener::CotServer;
pub use parse::{parse, CotError, CotEvent};
