//! Parses an HTTP ingest body: one JSON record, a JSON array of records, or NDJSON (one record
//! per line). Records are delimited before any is parsed, so one bad record — even one that
//! is not valid JSON, such as a `NaN` — names itself by index and field, and every other
//! record of the request is still checked and kept.

use limes_core::record::{FieldError, SensorRecord};

use super::check::Checker;
use super::{Batch, RecordError};

/// Most records one request may carry; later ones are refused (as one named run), not dropped.
pub const MAX_RECORDS: usize = 100_000;

/// Most refusals one request's reply lists (each names its record, field and reason): past
/// them the request is refused whole, so a reply never grows to 100,000 different messages.
pub const MAX_LISTED: usize = 10_000;

/// Whether the caller may send records for a sensor.
pub type MaySend<'a> = &'a dyn Fn(&str) -> bool;

/// Parses and checks a body; `may_send` says which sensors the caller speaks for. Never
/// panics, whatever the bytes.
pub fn parse(body: &[u8], checker: &Checker, may_send: MaySend<'_>) -> Batch {
    let mut batch = Batch::default();
    // A UTF-8 byte-order mark (some editors and Windows tools write one) is not content.
    let trimmed = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body)
        .trim_ascii();
    if trimmed.first() == Some(&b'[') {
        let split = split_array(trimmed);
        let n = split.count;
        for (i, text) in split.elements.into_iter().enumerate() {
            one(&mut batch, i, text, checker, may_send);
            if batch.errors.len() > MAX_LISTED {
                return refuse_whole(batch);
            }
        }
        if n > MAX_RECORDS {
            batch.refuse(over_limit(MAX_RECORDS, n - 1));
        }
        if let Some(message) = split.broken {
            batch.refuse(RecordError {
                index: n,
                last: None,
                rest: true,
                field: String::new(),
                message,
            });
        }
        return batch;
    }
    // One record spread over several lines (pretty-printed) is taken whole.
    if trimmed.contains(&b'\n') && serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok()
    {
        one(&mut batch, 0, trimmed, checker, may_send);
        return batch;
    }
    let lines = trimmed
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty());
    let mut n = 0;
    for (i, line) in lines.enumerate() {
        n = i + 1;
        if i < MAX_RECORDS {
            one(&mut batch, i, line.trim_ascii(), checker, may_send);
            if batch.errors.len() > MAX_LISTED {
                return refuse_whole(batch);
            }
        }
    }
    if n > MAX_RECORDS {
        batch.refuse(over_limit(MAX_RECORDS, n - 1));
    }
    batch
}

/// A request with more refusals than [`MAX_LISTED`]: nothing of it is stored; the first
/// refusals are listed after one entry that says so.
fn refuse_whole(mut batch: Batch) -> Batch {
    batch.errors.truncate(MAX_LISTED);
    batch.errors.insert(
        0,
        RecordError {
            index: 0,
            last: None,
            rest: true,
            field: String::new(),
            message: format!(
                "more than {MAX_LISTED} records refused (the first {MAX_LISTED} are listed): nothing of this request was stored; correct it and send it again"
            ),
        },
    );
    Batch {
        errors: batch.errors,
        ..Batch::default()
    }
}

fn over_limit(first: usize, last: usize) -> RecordError {
    RecordError {
        index: first,
        last: Some(last),
        rest: false,
        field: String::new(),
        message: format!(
            "over the limit of {MAX_RECORDS} records per request: records {first}–{last} were not read; send them in another request"
        ),
    }
}

fn one(batch: &mut Batch, index: usize, text: &[u8], checker: &Checker, may_send: MaySend<'_>) {
    let rec = match SensorRecord::from_json(text)
        .and_then(|r| speaks_for(&r, may_send).map(|()| r))
        .and_then(|r| checker.check(&r).map(|()| r))
    {
        Ok(r) => r,
        Err(e) => return batch.refuse(RecordError::at(index, e)),
    };
    // The log keeps the record as received when it is one line (the strict decoder has read
    // every key of it); a record spread over lines is written again on one.
    if text.contains(&b'\n') || text.contains(&b'\r') {
        batch.push_record(index, rec);
    } else {
        batch.push(index, rec, text);
    }
}

/// Refuses a record for a sensor the caller does not speak for, in the same words whether the
/// sensor exists or not.
pub fn speaks_for(rec: &SensorRecord, may_send: MaySend<'_>) -> Result<(), FieldError> {
    let sensor = rec.sensor();
    if may_send(sensor) {
        Ok(())
    } else {
        Err(FieldError::new(
            "sensor",
            format!("{sensor:?} is not a sensor your credential may send for"),
        ))
    }
}

/// The elements of a JSON array, delimited without parsing them.
#[derive(Debug, Default, PartialEq)]
pub struct Split<'a> {
    /// Each element's text, trimmed: the first [`MAX_RECORDS`] (memory stays bounded by the
    /// limit, not by how many two-byte elements fit in a body).
    pub elements: Vec<&'a [u8]>,
    /// How many elements the array has.
    pub count: usize,
    /// Why the array could not be delimited past the last element, if it could not.
    pub broken: Option<String>,
}

/// Delimits the top-level elements of a JSON array (`text` starts with `[`), tracking strings
/// and nesting only, so an element that is not valid JSON is still one element.
pub fn split_array(text: &[u8]) -> Split<'_> {
    let mut out = Split::default();
    let mut i = 1;
    let mut start = 1;
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    while i < text.len() {
        let b = text[i];
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => depth -= 1,
                b'}' => {
                    out.broken = Some(format!(
                        "unbalanced '}}' at byte {i}; the rest of the body was not read"
                    ));
                    return out;
                }
                b',' | b']' if depth == 0 => {
                    let el = text[start..i].trim_ascii();
                    let last = b == b']';
                    if !(last && el.is_empty() && out.count == 0) {
                        if out.count < MAX_RECORDS {
                            out.elements.push(el);
                        }
                        out.count += 1;
                    }
                    if last {
                        if !text[i + 1..].trim_ascii().is_empty() {
                            out.broken = Some("text after the closing ']'".into());
                        }
                        return out;
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.broken = Some(if in_str {
        "truncated: a string is not closed; the rest of the body was not read".into()
    } else {
        "truncated: the array is not closed with ']'; the rest of the body was not read".into()
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_delimited_around_invalid_elements() {
        let s = split_array(br#"[{"a":1}, {"b":NaN} ,{"c":"],"}, 7]"#);
        assert_eq!(
            s.elements,
            vec![&br#"{"a":1}"#[..], br#"{"b":NaN}"#, br#"{"c":"],"}"#, b"7"]
        );
        assert_eq!(s.broken, None);
        assert_eq!(split_array(b"[]").elements.len(), 0);
        assert_eq!(split_array(b"[ ]").elements.len(), 0);
        let t = split_array(br#"[{"a":1},{"b":"#);
        assert_eq!(t.elements, vec![&br#"{"a":1}"#[..]]);
        assert!(t.broken.is_some());
        let e = split_array(b"[1,]");
        assert_eq!(e.elements, vec![&b"1"[..], b""]);
    }

    #[test]
    fn a_huge_array_keeps_only_the_limit_and_one_wrong_run_is_one_entry() {
        // 16 MiB of `1,`: 8 M elements. Only the first MAX_RECORDS are kept (each a slice,
        // 16 bytes: 128 MiB before), and 100,000 records all wrong the same way are one run.
        let n = 8 * 1024 * 1024;
        let mut body = Vec::with_capacity(2 * n + 2);
        body.push(b'[');
        for _ in 0..n {
            body.extend_from_slice(b"1,");
        }
        *body.last_mut().unwrap_or(&mut 0) = b']';
        let split = split_array(&body);
        assert_eq!((split.elements.len(), split.count), (MAX_RECORDS, n));
        let batch = parse(&body, &crate::ingest::testing_checker(), &|_| true);
        assert!(batch.records.is_empty());
        let runs: Vec<(usize, Option<usize>)> =
            batch.errors.iter().map(|e| (e.index, e.last)).collect();
        assert_eq!(
            runs,
            vec![(0, Some(MAX_RECORDS - 1)), (MAX_RECORDS, Some(n - 1))],
            "{:?}",
            batch.errors.first()
        );
    }

    #[test]
    fn a_body_broken_after_good_records_names_everything_not_read() {
        let good = |s: &str| {
            format!(
                r#"{{"type":"heartbeat","sensor":"cam","time":"{}"}}"#,
                limes_core::record::Time(crate::clock::Clock::wall().now() - 1.0)
            ) + s
        };
        let body = format!("[{}]\n{}\n{}", good(""), good(""), good(""));
        let batch = parse(body.as_bytes(), &crate::ingest::testing_checker(), &|_| {
            true
        });
        assert_eq!(batch.records.len(), 1);
        let e = &batch.errors[..];
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].rest && e[0].index == 1, "{e:?}");
        let body = format!("[{},{}]", good("}"), good(""));
        let batch = parse(body.as_bytes(), &crate::ingest::testing_checker(), &|_| {
            true
        });
        assert!(batch.records.is_empty());
        assert!(batch.errors[0].rest && batch.errors[0].index == 0);
    }

    #[test]
    fn a_byte_order_mark_is_not_content() {
        let rec = format!(
            r#"{{"type":"heartbeat","sensor":"cam","time":"{}"}}"#,
            limes_core::record::Time(crate::clock::Clock::wall().now() - 1.0)
        );
        for body in [format!("\u{feff}{rec}"), format!("\u{feff}[{rec}]")] {
            let batch = parse(body.as_bytes(), &crate::ingest::testing_checker(), &|_| {
                true
            });
            assert_eq!(
                (batch.records.len(), batch.errors.len()),
                (1, 0),
                "{body:?}"
            );
        }
    }

    #[test]
    fn more_refusals_than_are_listed_refuse_the_whole_request() {
        // 0,1,2,…: each refused with its own message (serde names the value), so none fold.
        let good = format!(
            r#"{{"type":"heartbeat","sensor":"cam","time":"{}"}}"#,
            limes_core::record::Time(crate::clock::Clock::wall().now() - 1.0)
        );
        let mut body = format!("[{good}");
        for i in 0..MAX_RECORDS {
            body.push_str(&format!(",{i}"));
        }
        body.push(']');
        let batch = parse(body.as_bytes(), &crate::ingest::testing_checker(), &|_| {
            true
        });
        assert!(batch.records.is_empty() && batch.body.is_empty());
        assert_eq!(batch.errors.len(), MAX_LISTED + 1);
        assert!(batch.errors[0].rest && batch.errors[0].index == 0);
    }
}
