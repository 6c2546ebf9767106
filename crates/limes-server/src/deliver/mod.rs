//! Deliveries to partner organisations, one folder each with its encoder: the server-sent
//! event stream ([`sse`]), Cursor on Target to TAK clients ([`cot`]), CAP 1.2 ([`cap`]) and
//! webhooks ([`webhook`]). Every one of them encodes only what
//! [`crate::release::Policy::release`] returns; the streams share one [`feed::Feed`] (the
//! picture, then its changes, released for one organisation) and one audited [`session`].

pub mod cap;
pub mod cot;
pub mod feed;
pub mod session;
pub mod sse;
pub mod webhook;
