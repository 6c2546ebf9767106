//! Limes engine: watch a frontier and the perimeters of guarded facilities.
//!
//! The crate is a pipeline of stages, each in its own module, with typed records between them:
//!
//! * [`site`] — the deployment: frontier line, facilities, sensors, response units, thresholds.
//! * [`sim`] — a deterministic simulator that turns a site and a scenario into detections and truth.
//! * [`track`] — the multi-sensor, multi-target tracker (detections → tracks).
//! * [`judge`] — the rules that turn tracks, fence alarms and heartbeats into alerts.
//! * [`eval`] — scores tracks (GOSPA/OSPA) and alerts (Pd, nuisance rate, time to alert).
//!
//! [`record`] holds the JSON Lines schema shared by all stages and [`geo`] the geodesy.
//! [`pipeline`] wires the stages together for `limes demo`.

pub mod eval;
pub mod geo;
pub mod judge;
pub mod pipeline;
pub mod record;
pub mod sim;
pub mod site;
pub mod track;
