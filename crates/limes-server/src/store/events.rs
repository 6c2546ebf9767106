//! The `events` table: assessed events as the engine decided them. The writer inserts each once
//! (the engine's start-up replay decides them again under the same ids); reads are lazy.

use limes_core::record::{EventRecord, EventSource, Position};
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// Stores an event; one already there (a replay's) is kept as it was.
pub(super) fn write(tx: &Connection, e: &EventRecord) -> Result<(), rusqlite::Error> {
    let body = serde_json::to_string(e)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
    let (lon, lat) = match e.pos {
        Position::LonLat { lon, lat } => (Some(lon), Some(lat)),
        Position::Local { .. } => (None, None),
    };
    tx.execute(
        "INSERT OR IGNORE INTO events
             (id, source, reason, time, decided, sector, sensor, zone, lon, lat, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.id as i64,
            e.source.name(),
            e.assessment.reason.name(),
            e.time.0,
            e.decided.0,
            e.sector,
            e.sensor,
            e.zone,
            lon,
            lat,
            body
        ],
    )?;
    Ok(())
}

/// Maps a row of `SELECT body …` to an event; `None` for a body that no longer parses.
pub fn row_event(r: &rusqlite::Row) -> rusqlite::Result<Option<EventRecord>> {
    let body: String = r.get(0)?;
    Ok(serde_json::from_str(&body).ok())
}

/// Reads one event.
pub fn load(c: &Connection, id: u64) -> Result<Option<EventRecord>, StoreError> {
    let row = c
        .query_row(
            "SELECT body FROM events WHERE id = ?1",
            params![id as i64],
            row_event,
        )
        .optional()?;
    Ok(row.flatten())
}

/// The highest event id stored (0 when none): events up to it were stored, and so logged and
/// counted, by an earlier run.
pub fn max_id(c: &Connection) -> Result<u64, StoreError> {
    let n: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Events that happened at one place for one reason: what the release rule and the nuisance
/// counts need, without each record's body.
#[derive(Clone, Debug, PartialEq)]
pub struct EventGroup {
    /// What raised them.
    pub source: EventSource,
    /// The assessment's reason (its name).
    pub reason: String,
    /// The alarm's sensor, if any.
    pub sensor: Option<String>,
    /// The fence zone, if any.
    pub zone: Option<String>,
    /// Frontier sector, if any.
    pub sector: Option<String>,
    /// Where (events with a position in a local frame are never released in full: left out).
    pub pos: Position,
    /// How many.
    pub n: u64,
}

/// Events in `[from, to)`, grouped by source, reason, sensor, zone, sector and position (a
/// fence zone's alarms all sit at its middle, so a zone is one group per reason).
pub fn groups(c: &Connection, from: f64, to: f64) -> Result<Vec<EventGroup>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT source, reason, sensor, zone, sector, lon, lat, COUNT(*) FROM events
         WHERE time >= ?1 AND time < ?2 AND lon IS NOT NULL AND lat IS NOT NULL
         GROUP BY source, reason, sensor, zone, sector, lon, lat",
    )?;
    let rows = stmt.query_map([from, to], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, f64>(5)?,
            r.get::<_, f64>(6)?,
            r.get::<_, i64>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (source, reason, sensor, zone, sector, lon, lat, n) = r?;
        // A source this version does not know (a newer limes wrote it) is not counted.
        let Some(source) = EventSource::parse(&source) else {
            continue;
        };
        out.push(EventGroup {
            source,
            reason,
            sensor,
            zone,
            sector,
            pos: Position::LonLat { lon, lat },
            n: n.max(0) as u64,
        });
    }
    Ok(out)
}
