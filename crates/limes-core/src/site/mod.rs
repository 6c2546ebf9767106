//! The site file: one human-editable TOML description of a deployment.
//!
//! A site names the frontier (a GeoJSON line and which side is outside), authorised crossings,
//! facilities, "next lines" (roads, towns) used for detect–delay–respond, response units, and
//! sensors, either listed one by one or generated along the frontier (`[[tower_lines]]`,
//! `[[fence_lines]]`). `[[orgs]]` states the release policy per partner organisation. `[tracker]`, `[rules]` and `[scenario]` tune the stages. See
//! `docs/site.md` for the full reference.

mod expand;
mod load;
mod model;
mod org;
mod scenario;

pub use load::{load, parse, SiteError};
pub use model::*;
pub use org::{Detail, FrontierSide, Org, ReleaseArea};
pub use scenario::{AdversarialConfig, BreakoutConfig, ScenarioConfig};
