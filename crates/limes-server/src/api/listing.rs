//! Lists read from the store, the one way alerts and assessed events are listed: equality
//! filters and a window of the `time` column, newest first, rows read lazily and released one
//! by one until `limit` released ones are found (so a caller released little does not make the
//! server read the whole table into memory, and a large table costs no more than it must).

use axum::http::StatusCode;
use rusqlite::params_from_iter;

use super::ApiError;
use crate::release::Out;
use crate::store::Store;

/// Most items one list returns.
pub const MAX_LIMIT: usize = 5000;
/// Items a list returns when the caller does not say.
pub const DEFAULT_LIMIT: usize = 200;

/// Parses an RFC 3339 query parameter, naming it when it is not one.
pub fn time_param(field: &str, v: &Option<String>) -> Result<Option<f64>, ApiError> {
    v.as_deref()
        .map(|s| {
            limes_core::record::Time::parse(s)
                .map(|t| t.0)
                .ok_or_else(|| {
                    ApiError::bad_field(field, format!("{field}: {s:?} is not an RFC 3339 time"))
                })
        })
        .transpose()
}

/// A query string that does not parse: 400 with the extractor's words.
pub fn query_error(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, e.body_text())
}

/// A newest-first list of one table (which has `time` and `id` columns).
pub struct Listing {
    sql: String,
    args: Vec<rusqlite::types::Value>,
    limit: usize,
}

impl Listing {
    /// `SELECT {columns} FROM {table}` over `time` in `[since, until)` (RFC 3339; a wrong one
    /// is named), at most `limit` items ([`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
    pub fn new(
        columns: &str,
        table: &str,
        since: &Option<String>,
        until: &Option<String>,
        limit: Option<usize>,
    ) -> Result<Self, ApiError> {
        let since = time_param("since", since)?;
        let until = time_param("until", until)?;
        let mut l = Self {
            sql: format!("SELECT {columns} FROM {table} WHERE 1 = 1"),
            args: Vec::new(),
            limit: limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        };
        if let Some(t) = since {
            l.sql.push_str(" AND time >= ?");
            l.args.push(t.into());
        }
        if let Some(t) = until {
            l.sql.push_str(" AND time < ?");
            l.args.push(t.into());
        }
        Ok(l)
    }

    /// Keeps the rows whose `col` is `v`, when `v` is given.
    pub fn eq(mut self, col: &'static str, v: Option<String>) -> Self {
        if let Some(v) = v {
            self.sql.push_str(&format!(" AND {col} = ?"));
            self.args.push(v.into());
        }
        self
    }

    /// Reads the rows newest first (`row` maps one, `None` for a row that no longer parses) and
    /// keeps what `release` gives for the caller, until the limit.
    pub async fn read<T: 'static>(
        self,
        store: &Store,
        row: fn(&rusqlite::Row) -> rusqlite::Result<Option<T>>,
        mut release: impl FnMut(T) -> Option<Out> + Send + 'static,
    ) -> Result<Vec<Out>, ApiError> {
        let Self {
            mut sql,
            args,
            limit,
        } = self;
        sql.push_str(" ORDER BY time DESC, id DESC");
        Ok(store
            .read(move |c| {
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map(params_from_iter(args), row)?;
                let mut out = Vec::new();
                for r in rows {
                    let Some(item) = r? else { continue };
                    if let Some(o) = release(item) {
                        out.push(o);
                        if out.len() >= limit {
                            break;
                        }
                    }
                }
                Ok(out)
            })
            .await?)
    }
}
