//! Parses an HTTP ingest body: one JSON record, a JSON array of records, or NDJSON (one record
//! per line). Each record is parsed and checked on its own, so one bad record names itself and
//! the rest of the batch is unaffected.

use limes_core::record::SensorRecord;

use super::check::{Checker, RecordError};

/// Most records one request may carry.
pub const MAX_RECORDS: usize = 100_000;

/// The good records of a batch, their log text, and the refusals.
#[derive(Debug, Default)]
pub struct Batch {
    /// Records that passed every check, in batch order.
    pub records: Vec<SensorRecord>,
    /// The same records as NDJSON, as they are written to the durable log.
    pub body: Vec<u8>,
    /// One entry per refused record.
    pub errors: Vec<RecordError>,
}

/// Parses and checks a body. Never panics, whatever the bytes.
pub fn parse(body: &[u8], checker: &Checker) -> Batch {
    let mut batch = Batch::default();
    let trimmed = body.trim_ascii();
    if trimmed.first() == Some(&b'[') {
        match serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(trimmed) {
            Ok(items) if items.len() > MAX_RECORDS => batch.errors.push(RecordError {
                index: MAX_RECORDS,
                field: String::new(),
                message: format!(
                    "{} records in one request; send at most {MAX_RECORDS}",
                    items.len()
                ),
            }),
            Ok(items) => {
                for (i, raw) in items.iter().enumerate() {
                    one(&mut batch, i, raw.get().as_bytes(), checker);
                }
            }
            Err(e) => batch.errors.push(RecordError {
                index: 0,
                field: String::new(),
                message: format!("the body starts with '[' but is not a JSON array: {e}"),
            }),
        }
        return batch;
    }
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .collect();
    // One record spread over several lines (pretty-printed) is taken whole.
    if lines.len() > 1 {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(lines[0]) {
            if e.classify() == serde_json::error::Category::Eof {
                one(&mut batch, 0, trimmed, checker);
                return batch;
            }
        }
    }
    for (i, line) in lines.iter().enumerate() {
        if i >= MAX_RECORDS {
            batch.errors.push(RecordError {
                index: i,
                field: String::new(),
                message: format!(
                    "more than {MAX_RECORDS} records in one request; the rest were not read"
                ),
            });
            break;
        }
        one(&mut batch, i, line, checker);
    }
    batch
}

fn one(batch: &mut Batch, index: usize, text: &[u8], checker: &Checker) {
    let mut de = serde_json::Deserializer::from_slice(text);
    let rec: SensorRecord = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => r,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut field = field_of(&path, &inner.to_string());
            if field.is_empty() && inner.column() > 0 {
                field = key_before(text, inner.column()).unwrap_or_default();
            }
            batch.errors.push(RecordError {
                index,
                field,
                message: inner.to_string(),
            });
            return;
        }
    };
    if let Err(e) = de.end() {
        batch.errors.push(RecordError {
            index,
            field: String::new(),
            message: format!("text after the record: {e}"),
        });
        return;
    }
    if let Err((field, message)) = checker.check(&rec) {
        batch.errors.push(RecordError {
            index,
            field: field.to_string(),
            message,
        });
        return;
    }
    // The log keeps the record as received when it is one line (it parsed to exactly this
    // record); a record spread over lines is written again on one.
    let text = text.trim_ascii();
    if !text.contains(&b'\n') && !text.contains(&b'\r') {
        batch.body.extend_from_slice(text);
    } else if serde_json::to_writer(&mut batch.body, &rec).is_err() {
        // Serialising a record that was just deserialised cannot fail; never log half a line.
        return;
    }
    batch.body.push(b'\n');
    batch.records.push(rec);
}

/// The field a serde error is about: the path when known, else the name in "missing field `x`".
fn field_of(path: &str, message: &str) -> String {
    if !path.is_empty() && path != "." {
        return path.to_string();
    }
    if message.contains("untagged enum Position") {
        return "lon/lat".to_string();
    }
    if message.contains("RFC 3339 timestamp") {
        return "time".to_string();
    }
    for pat in ["missing field `", "unknown field `", "unknown variant `"] {
        if let Some(i) = message.find(pat) {
            let rest = &message[i + pat.len()..];
            if let Some(j) = rest.find('`') {
                return if pat == "unknown variant `" {
                    "type".to_string()
                } else {
                    rest[..j].to_string()
                };
            }
        }
    }
    String::new()
}

/// The last `"key":` before a (1-based) column of a one-line record: where a syntax error such
/// as `NaN` or a truncated value sits.
fn key_before(text: &[u8], column: usize) -> Option<String> {
    let upto = &text[..column.min(text.len())];
    let s = String::from_utf8_lossy(upto);
    let colon = s.rfind(':')?;
    let before = s[..colon].trim_end().strip_suffix('"')?;
    let start = before.rfind('"')?;
    Some(before[start + 1..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_is_pinned_to_the_key_before_it() {
        let t = br#"{"type":"detection","sensor":"a","lon":NaN,"lat":1}"#;
        let col = t.iter().position(|&b| b == b'N').unwrap() + 1;
        assert_eq!(key_before(t, col).as_deref(), Some("lon"));
        assert_eq!(key_before(b"{", 1), None);
    }
}
