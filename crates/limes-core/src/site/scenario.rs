//! The `[scenario]` table of a site file: what the simulator stages. It lives with the site
//! model so that a site can be loaded without the simulator (the server never links it).

use serde::{Deserialize, Serialize};

/// What the simulator stages (the `[scenario]` table of a site file).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScenarioConfig {
    /// Start of the simulated period, RFC 3339.
    pub start: String,
    /// Length of the period, hours.
    pub duration_h: f64,
    /// Simulation step, seconds.
    pub step_s: f64,
    /// Period of ground-truth samples, seconds.
    pub truth_every_s: f64,
    /// Groups crossing the frontier illegally.
    pub infiltrator_groups: u32,
    /// Herders' flocks grazing near the frontier.
    pub flocks: u32,
    /// Animals per flock.
    pub flock_size: u32,
    /// Stray animals near the line.
    pub strays: u32,
    /// Vehicles on the site's roads.
    pub vehicles: u32,
    /// Legal crossings at authorised crossing points.
    pub legal_crossings: u32,
    /// Cameras that fail for a while during the period.
    pub sensor_outages: u32,
    /// Largest delivery latency of a sensor record, seconds.
    pub latency_max_s: f64,
    /// The breakout, if the scenario stages one.
    pub breakout: Option<BreakoutConfig>,
    /// Flocks whose herder drives them across the frontier (the herder's crossing is an
    /// infiltration).
    pub herder_crossings: u32,
    /// Infiltrator groups that cross walking inside a flock, at its pace.
    pub flock_infiltrations: u32,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        Self {
            start: "2019-10-12T21:00:00+03:00".into(),
            duration_h: 6.0,
            step_s: 1.0,
            truth_every_s: 30.0,
            infiltrator_groups: 6,
            flocks: 8,
            flock_size: 25,
            strays: 30,
            vehicles: 12,
            legal_crossings: 10,
            sensor_outages: 1,
            latency_max_s: 1.5,
            breakout: None,
            herder_crossings: 0,
            flock_infiltrations: 0,
        }
    }
}

/// The seed's event: shelling, guards leaving, gates forced, people leaving in waves.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakoutConfig {
    /// Facility identifier.
    pub facility: String,
    /// Shelling starts this many minutes into the period.
    pub shelling_at_min: f64,
    /// Where the shells fall `[lon, lat]`.
    pub shelling_point: [f64; 2],
    /// Sensors within this radius of the shelling go offline, metres.
    pub shelling_radius_m: f64,
    /// Guards and managers drive away this many minutes after the shelling starts.
    pub guards_leave_after_min: f64,
    /// Gates are forced this many minutes after the shelling starts.
    pub gates_forced_after_min: f64,
    /// People who leave.
    pub escapees: u32,
    /// Waves they leave in.
    pub waves: u32,
    /// Minutes between wave starts.
    pub wave_spacing_min: f64,
    /// Minutes one wave takes to pass the gates.
    pub wave_duration_min: f64,
}

impl Default for BreakoutConfig {
    fn default() -> Self {
        Self {
            facility: String::new(),
            shelling_at_min: 30.0,
            shelling_point: [0.0, 0.0],
            shelling_radius_m: 800.0,
            guards_leave_after_min: 15.0,
            gates_forced_after_min: 40.0,
            escapees: 785,
            waves: 4,
            wave_spacing_min: 10.0,
            wave_duration_min: 8.0,
        }
    }
}
