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
    /// Adversarial scenarios staged on top of the usual traffic (`[scenario.adversarial]`).
    pub adversarial: AdversarialConfig,
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
            adversarial: AdversarialConfig::default(),
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

/// Nights built to fool the system: how many times each named adversarial scenario is staged
/// (the `[scenario.adversarial]` table). All zero by default.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialConfig {
    /// A group crosses while the camera nearest its crossing point is offline.
    pub camera_offline: u32,
    /// A herd is pushed against the fence in one sector while a group crosses two sectors away.
    pub decoy: u32,
    /// People crawl the last kilometre (0.2–0.4 m/s, small heat signature, hard to see).
    pub crawl: u32,
    /// People run across the line at 3–4 m/s.
    pub sprint: u32,
    /// A vehicle drives across the line at speed, away from the crossing points.
    pub vehicle_run: u32,
    /// A group crosses just outside an authorised crossing point's radius.
    pub crossing_edge: u32,
    /// Someone cuts the fence and goes back without crossing.
    pub probing: u32,
    /// Waves of five groups crossing in different sectors within ten minutes.
    pub saturation: u32,
}

impl AdversarialConfig {
    /// The scenario names, in report order.
    pub const NAMES: [&'static str; 8] = [
        "camera_offline",
        "decoy",
        "crawl",
        "sprint",
        "vehicle_run",
        "crossing_edge",
        "probing",
        "saturation",
    ];

    /// Every scenario staged `n` times (saturation: `n` waves of five groups).
    pub fn each(n: u32) -> Self {
        Self {
            camera_offline: n,
            decoy: n,
            crawl: n,
            sprint: n,
            vehicle_run: n,
            crossing_edge: n,
            probing: n,
            saturation: n,
        }
    }
}
