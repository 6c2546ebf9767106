//! Limes engine: watch a frontier and the perimeters of guarded facilities.
//!
//! The crate is a pipeline of stages, each in its own module, with typed records between them:
//!
//! * [`site`] — the deployment: frontier line, facilities, sensors, response units, thresholds.
//! * [`sim`] — a deterministic simulator that turns a site and a scenario into detections and truth.
//! * [`track`] — the multi-sensor, multi-target tracker (detections → tracks).
//! * [`rules`] — the rules that turn tracks, fence alarms and heartbeats into alerts.
//! * [`eval`] — scores tracks (GOSPA/OSPA) and alerts (Pd, nuisance rate, time to alert).
//!
//! [`record`] holds the JSON Lines schema shared by all stages and [`geo`] the geodesy.
//! [`engine`] wires tracker and rules together (the one path every command and the server
//! use); `run` wires simulator → engine → evaluator for `limes demo`. The simulator, the
//! evaluator and `run` are behind the `sim` feature (on by default), so the server can be built
//! without them.

#[cfg(feature = "sim")]
pub mod alarms;
pub mod engine;
#[cfg(feature = "sim")]
pub mod eval;
pub mod geo;
pub mod record;
pub mod rules;
#[cfg(feature = "sim")]
pub mod run;
#[cfg(feature = "sim")]
pub mod sim;
pub mod site;
pub mod track;
