//! The alert life cycle: new → acknowledged → assigned → resolved, with a reason (the nuisance
//! reasons feed the counts per sensor and per zone that `GET /api/v1/nuisance` derives).

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::release::{AlertLife, AlertView, Lifecycle};
use crate::store::StoreError;

/// Why an alert was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// A real incident, dealt with.
    Confirmed,
    /// Nuisance: an animal.
    NuisanceAnimal,
    /// Nuisance: a herder or other lawful person.
    NuisanceHerder,
    /// Nuisance: weather (wind, rain, heat shimmer).
    NuisanceWeather,
    /// A sensor fault.
    SensorFault,
}

impl Resolution {
    /// The snake_case name stored and sent.
    pub fn name(self) -> &'static str {
        match self {
            Resolution::Confirmed => "confirmed",
            Resolution::NuisanceAnimal => "nuisance_animal",
            Resolution::NuisanceHerder => "nuisance_herder",
            Resolution::NuisanceWeather => "nuisance_weather",
            Resolution::SensorFault => "sensor_fault",
        }
    }

    /// Whether this counts towards a sensor's and a zone's nuisance rate.
    pub fn is_nuisance(self) -> bool {
        !matches!(self, Resolution::Confirmed)
    }
}

/// An operator's action on an alert.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Seen.
    Ack,
    /// Send a response unit.
    Assign(String),
    /// Close with a reason.
    Resolve(Resolution),
}

impl Action {
    /// The audit action name.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Ack => "alert.ack",
            Action::Assign(_) => "alert.assign",
            Action::Resolve(_) => "alert.resolve",
        }
    }
}

/// The state after `action` from `from`, or why it is not allowed.
pub fn transition(from: Lifecycle, action: &Action) -> Result<Lifecycle, String> {
    use Lifecycle::*;
    match (from, action) {
        (Resolved, _) => Err("the alert is already resolved".into()),
        (New, Action::Ack) => Ok(Acknowledged),
        (_, Action::Ack) => Err(format!("the alert is already {}", from.name())),
        (_, Action::Assign(_)) => Ok(Assigned),
        (_, Action::Resolve(_)) => Ok(Resolved),
    }
}

/// The columns [`row_view`] reads, for every query of the `alerts` table.
pub const ALERT_COLUMNS: &str = "body, status, unit, resolution, note, changed_by, life_version";

/// Reads an alert with its life cycle.
pub fn load(c: &Connection, id: u64) -> Result<Option<AlertView>, StoreError> {
    let row = c
        .query_row(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
            params![id as i64],
            row_view,
        )
        .optional()?;
    Ok(row.flatten())
}

/// Maps an `alerts` row ([`ALERT_COLUMNS`]) to a view; `None` for a body that no longer parses.
pub fn row_view(r: &rusqlite::Row) -> rusqlite::Result<Option<AlertView>> {
    let body: String = r.get(0)?;
    let status: String = r.get(1)?;
    let Ok(alert) = serde_json::from_str(&body) else {
        return Ok(None);
    };
    Ok(Some(AlertView {
        alert,
        life: AlertLife {
            status: Lifecycle::parse(&status).unwrap_or(Lifecycle::New),
            unit: r.get(2)?,
            resolution: r.get(3)?,
            note: r.get(4)?,
            changed_by: r.get(5)?,
            version: r.get::<_, i64>(6)? as u64,
        },
    }))
}

/// Applies `action` to alert `id` inside the writer's transaction; returns the new life cycle.
pub fn apply(
    c: &Connection,
    id: u64,
    action: &Action,
    note: Option<String>,
    actor: &str,
    now: f64,
) -> Result<AlertLife, StoreError> {
    let v = load(c, id)?.ok_or_else(|| StoreError::NotFound("no such alert".into()))?;
    let mut life = v.life;
    life.status = transition(life.status, action).map_err(StoreError::Refused)?;
    match action {
        Action::Assign(u) => life.unit = Some(u.clone()),
        Action::Resolve(r) => {
            life.resolution = Some(r.name().to_string());
        }
        Action::Ack => {}
    }
    if note.is_some() {
        life.note = note;
    }
    life.changed_by = Some(actor.to_string());
    life.version += 1;
    c.execute(
        "UPDATE alerts SET status = ?2, unit = ?3, resolution = ?4, note = ?5, changed_by = ?6,
             changed_at = ?7, life_version = ?8 WHERE id = ?1",
        params![
            id as i64,
            life.status.name(),
            life.unit,
            life.resolution,
            life.note,
            life.changed_by,
            now,
            life.version as i64
        ],
    )?;
    Ok(life)
}

/// Nuisance counts keyed by (what was counted: `resolution` or `event`; scope `sensor`, `zone`
/// or `fence_zone`; its id; the reason).
pub type NuisanceCounts =
    std::collections::BTreeMap<(&'static str, &'static str, String, String), u64>;

/// Where counted items happened: the sensors, the zone (sector, else facility, else
/// `unzoned`) and, for fence alarms assessed as events, the fence zone.
struct Place<'a> {
    sensors: &'a [String],
    sector: Option<&'a str>,
    facility: Option<&'a str>,
    fence_zone: Option<&'a str>,
}

/// Counts `n` items under `reason`: once for each sensor, once for the zone and once for the
/// fence zone (when there is one). The one rule for resolutions and events.
fn count_at(
    counts: &mut NuisanceCounts,
    from: &'static str,
    place: Place<'_>,
    reason: &str,
    n: u64,
) {
    let zone = place
        .sector
        .or(place.facility)
        .unwrap_or("unzoned")
        .to_string();
    let mut add = |scope: &'static str, key: String| {
        *counts
            .entry((from, scope, key, reason.to_string()))
            .or_default() += n;
    };
    for sensor in place.sensors {
        add("sensor", sensor.clone());
    }
    add("zone", zone);
    if let Some(z) = place.fence_zone {
        add("fence_zone", z.to_string());
    }
}

/// Counts one resolved alert under `reason`: once for each sensor it names and once for its
/// zone (sector, else facility, else `unzoned`). The one rule for `/api/v1/nuisance` and the
/// console's recent window.
pub fn count_nuisance(counts: &mut NuisanceCounts, v: &AlertView, reason: String) {
    let place = Place {
        sensors: &v.alert.sensors,
        sector: v.alert.sector.as_deref(),
        facility: v.alert.facility.as_deref(),
        fence_zone: None,
    };
    count_at(counts, "resolution", place, &reason, 1);
}

/// Counts a group of assessed events under their reason, by the same rule: their sensor, their
/// zone and their fence zone.
pub fn count_events(counts: &mut NuisanceCounts, g: &crate::store::events::EventGroup) {
    let place = Place {
        sensors: g.sensor.as_slice(),
        sector: g.sector.as_deref(),
        facility: None,
        fence_zone: g.zone.as_deref(),
    };
    count_at(counts, "event", place, &g.reason, g.n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn life_cycle_order_is_enforced() {
        use Lifecycle::*;
        assert_eq!(transition(New, &Action::Ack), Ok(Acknowledged));
        assert!(transition(Acknowledged, &Action::Ack).is_err());
        assert_eq!(
            transition(Acknowledged, &Action::Assign("qrf-1".into())),
            Ok(Assigned)
        );
        assert_eq!(
            transition(New, &Action::Assign("qrf-1".into())),
            Ok(Assigned)
        );
        assert_eq!(
            transition(Assigned, &Action::Resolve(Resolution::Confirmed)),
            Ok(Resolved)
        );
        assert!(transition(Resolved, &Action::Resolve(Resolution::Confirmed)).is_err());
        assert!(transition(Resolved, &Action::Ack).is_err());
    }
}
