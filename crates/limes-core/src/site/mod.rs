//! The site file: one human-editable TOML description of a deployment.
//!
//! A site names the frontier (a GeoJSON line and which side is outside), authorised crossings,
//! facilities, "next lines" (roads, towns) used for detect–delay–respond, response units, and
//! sensors, either listed one by one or generated along the frontier (`[[tower_lines]]`,
//! `[[fence_lines]]`). `[[orgs]]` states the release policy per partner organisation. `[tracker]`, `[rules]` and `[scenario]` tune the stages. See
//! `docs/site.md` for the full reference.

mod check;
mod expand;
mod frontier;
mod load;
mod model;
mod org;
mod scenario;
mod shipped;

pub use check::SiteCheck;
pub use frontier::{FrontierIndex, FrontierPos};
pub use load::{load, parse, parse_with, ReadFile, SiteError};
pub use model::*;
pub use org::{Detail, FacilityField, FrontierSide, Geometry, Org, ReleaseArea};
pub use scenario::{AdversarialConfig, BreakoutConfig, ScenarioConfig};
pub use shipped::{open, shipped, write_shipped, SITES};
