//! The alert life cycle: new → acknowledged → assigned → resolved, with a reason, and the
//! nuisance counts that resolutions feed per sensor and per zone.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::release::{AlertView, Lifecycle};
use crate::store::StoreError;

/// Why an alert was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        (_, Action::Ack) => Err(format!("the alert is already {}", crate::snake(&from))),
        (_, Action::Assign(_)) => Ok(Assigned),
        (_, Action::Resolve(_)) => Ok(Resolved),
    }
}

/// Reads an alert with its life cycle.
pub fn load(c: &Connection, id: u64) -> Result<Option<AlertView>, StoreError> {
    let row = c
        .query_row(
            "SELECT body, status, unit, resolution, note, changed_by FROM alerts WHERE id = ?1",
            params![id as i64],
            row_view,
        )
        .optional()?;
    Ok(row.flatten())
}

/// Maps an `alerts` row (body, status, unit, resolution, note, changed_by) to a view.
pub fn row_view(r: &rusqlite::Row) -> rusqlite::Result<Option<AlertView>> {
    let body: String = r.get(0)?;
    let status: String = r.get(1)?;
    let Ok(alert) = serde_json::from_str(&body) else {
        return Ok(None);
    };
    let status =
        serde_json::from_value(serde_json::Value::String(status)).unwrap_or(Lifecycle::New);
    Ok(Some(AlertView {
        alert,
        status,
        unit: r.get(2)?,
        resolution: r.get(3)?,
        note: r.get(4)?,
        changed_by: r.get(5)?,
    }))
}

/// Applies `action` to alert `id` inside the writer's transaction; returns the new view.
pub fn apply(
    c: &Connection,
    id: u64,
    action: &Action,
    note: Option<String>,
    actor: &str,
    now: f64,
) -> Result<AlertView, StoreError> {
    let mut v = load(c, id)?.ok_or_else(|| StoreError::NotFound(format!("no alert {id}")))?;
    v.status = transition(v.status, action).map_err(StoreError::Refused)?;
    match action {
        Action::Assign(u) => v.unit = Some(u.clone()),
        Action::Resolve(r) => {
            v.resolution = Some(crate::snake(r));
            if r.is_nuisance() {
                let zone = v
                    .alert
                    .sector
                    .clone()
                    .or(v.alert.facility.clone())
                    .unwrap_or_else(|| "unzoned".into());
                let reason = crate::snake(r);
                let mut keys: Vec<(&str, String)> = v
                    .alert
                    .sensors
                    .iter()
                    .map(|s| ("sensor", s.clone()))
                    .collect();
                keys.push(("zone", zone));
                for (scope, key) in keys {
                    c.execute(
                        "INSERT INTO nuisance (scope, key, reason, n) VALUES (?1, ?2, ?3, 1)
                         ON CONFLICT(scope, key, reason) DO UPDATE SET n = n + 1",
                        params![scope, key, reason],
                    )?;
                }
            }
        }
        Action::Ack => {}
    }
    if note.is_some() {
        v.note = note;
    }
    v.changed_by = Some(actor.to_string());
    c.execute(
        "UPDATE alerts SET status = ?2, unit = ?3, resolution = ?4, note = ?5, changed_by = ?6, changed_at = ?7 WHERE id = ?1",
        params![id as i64, crate::snake(&v.status), v.unit, v.resolution, v.note, v.changed_by, now],
    )?;
    Ok(v)
}

/// Nuisance resolutions counted so far: `(scope, key, reason, n)`, most first.
pub fn nuisance(c: &Connection) -> Result<Vec<(String, String, String, i64)>, StoreError> {
    let mut stmt =
        c.prepare("SELECT scope, key, reason, n FROM nuisance ORDER BY n DESC, scope, key")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
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
