//! Reading and writing JSON Lines with errors that name the line and the field.

use serde::{de::DeserializeOwned, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// A JSON Lines file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A line is not a valid record.
    #[error("{path}:{line}: {message}")]
    Record {
        /// File path.
        path: PathBuf,
        /// 1-based line number (the record).
        line: usize,
        /// What is wrong, naming the field where serde knows it.
        message: String,
    },
}

/// Longest line read, bytes: a record is a few hundred; a longer line is refused by number,
/// never held whole in memory.
pub const MAX_LINE: usize = 1 << 20;

/// Reads every record of a JSON Lines file, skipping blank lines; fails with the first bad line
/// (and reads no further).
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_jsonl_from(BufReader::with_capacity(1 << 20, file), path)
}

/// [`read_jsonl`] of an open reader; `path` names it in errors.
fn read_jsonl_from<T: DeserializeOwned>(
    reader: impl BufRead,
    path: &Path,
) -> Result<Vec<T>, ReadError> {
    let mut out = Vec::new();
    let mut bad = None;
    lines_until(reader, path, |n, line| {
        match line.and_then(|l| parse(l)) {
            Ok(rec) => out.push(rec),
            Err(message) => bad = Some((n, message)),
        }
        if bad.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    match bad {
        Some((line, message)) => Err(ReadError::Record {
            path: path.to_path_buf(),
            line,
            message,
        }),
        None => Ok(out),
    }
}

/// Streams a JSON Lines file: calls `f` with the 1-based line number and each record, or the
/// error for a line that is not one (naming the field where serde knows it). Only I/O errors
/// stop the read.
pub fn for_each_jsonl<T: DeserializeOwned>(
    path: &Path,
    mut f: impl FnMut(usize, Result<T, String>),
) -> Result<(), ReadError> {
    for_each_line(path, |n, line| f(n, line.and_then(|l| parse(l))))
}

fn parse<T: DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 text: {e}"))?;
    // Tracking the path costs about half again on every record; only a bad one needs it.
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let v: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // `.` is the record itself (a flattened field, or a missing one serde names).
        if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("field `{path}`: {inner}")
        }
    })?;
    // The record read, only what follows it can have failed the plain parse: two records on
    // one line, or a record and junk, are refused as the plain parse refuses them.
    de.end()
        .map_err(|e| format!("text after the record: {e}"))?;
    Ok(v)
}

/// Streams the lines of a file that are not blank: calls `f` with the 1-based line number and
/// the line's bytes (a UTF-8 byte-order mark at the start of the file and a line's trailing
/// `\r` removed), or an error for a line longer than [`MAX_LINE`]. Only I/O errors stop the
/// read; bytes that are not UTF-8 are the caller's to refuse, by line.
pub fn for_each_line(
    path: &Path,
    mut f: impl FnMut(usize, Result<&[u8], String>),
) -> Result<(), ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    lines_until(BufReader::with_capacity(1 << 20, file), path, |n, line| {
        f(n, line);
        ControlFlow::Continue(())
    })
}

/// [`for_each_line`] of an open reader, until `f` breaks; `path` names it in errors.
fn lines_until(
    reader: impl BufRead,
    path: &Path,
    mut f: impl FnMut(usize, Result<&[u8], String>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let mut lines = LineReader::new(reader, path);
    while let Some((n, line)) = lines.next_line()? {
        if f(n, line).is_break() {
            break;
        }
    }
    Ok(())
}

/// The lines of a file that are not blank, one at a time (as [`for_each_line`] gives them): for
/// reading several files side by side.
pub struct LineReader<R> {
    reader: R,
    path: PathBuf,
    n: usize,
    buf: Vec<u8>,
    ended: bool,
}

impl<R: BufRead> LineReader<R> {
    /// Reads `reader`; `path` names it in errors.
    pub fn new(reader: R, path: &Path) -> Self {
        Self {
            reader,
            path: path.to_path_buf(),
            n: 0,
            buf: Vec::new(),
            ended: false,
        }
    }

    /// The next line that is not blank, with its 1-based number: its bytes (a UTF-8 byte-order
    /// mark at the start of the file and a trailing `\r` removed), or an error for a line
    /// longer than [`MAX_LINE`]; `None` at the end of the file.
    #[allow(clippy::type_complexity)]
    pub fn next_line(&mut self) -> Result<Option<(usize, Result<&[u8], String>)>, ReadError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            self.n += 1;
            self.buf.clear();
            let (end, too_long) =
                read_bounded_line(&mut self.reader, &mut self.buf).map_err(|source| {
                    ReadError::Io {
                        path: self.path.clone(),
                        source,
                    }
                })?;
            self.ended = end;
            if too_long {
                return Ok(Some((
                    self.n,
                    Err(format!("longer than {MAX_LINE} bytes: not a record")),
                )));
            }
            let mut from = 0;
            if self.n == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                from = 3;
            }
            let mut to = self.buf.len().max(from);
            if to > from && self.buf[to - 1] == b'\r' {
                to -= 1;
            }
            if !self.buf[from..to].trim_ascii().is_empty() {
                return Ok(Some((self.n, Ok(&self.buf[from..to]))));
            }
        }
    }
}

/// Reads one line into `buf` (without its `\n`), keeping at most [`MAX_LINE`] bytes of it and
/// skipping the rest; returns whether the file ended and whether the line was too long.
fn read_bounded_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<(bool, bool)> {
    let mut too_long = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((true, too_long));
        }
        let (take, found) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > MAX_LINE {
            too_long = true;
        } else if !too_long {
            buf.extend_from_slice(&avail[..take]);
        }
        r.consume(take + usize::from(found));
        if found {
            return Ok((false, too_long));
        }
    }
}

/// A buffered JSON Lines writer; its errors name the file (`fs_err`).
pub struct JsonlWriter {
    out: BufWriter<fs_err::File>,
    path: PathBuf,
}

impl JsonlWriter {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, fs_err::File::create(path)?),
            path: path.to_path_buf(),
        })
    }

    /// Appends one record as one line.
    pub fn write<T: Serialize>(&mut self, rec: &T) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, rec)?;
        self.out.write_all(b"\n")
    }

    /// Flushes to disk and returns the path.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        self.out.flush()?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that fails: reading it at all is reading past where a reader should stop.
    struct Unreadable;

    impl std::io::Read for Unreadable {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("read past the first bad line"))
        }
    }

    #[test]
    fn text_after_a_record_is_refused() {
        type Map = serde_json::Map<String, serde_json::Value>;
        for line in [&b"{\"a\":1}{\"a\":2}"[..], b"{\"a\":1} junk"] {
            let e = parse::<Map>(line).expect_err("two records on one line");
            assert!(e.contains("text after the record"), "{e}");
        }
        assert!(parse::<Map>(b"{\"a\":1}  ").is_ok());
    }

    #[test]
    fn a_bad_line_ends_the_read() {
        use std::io::Read;
        let reader = BufReader::new(b"{\"a\":1}\n{\"a\":\n".chain(Unreadable));
        let r = read_jsonl_from::<serde_json::Map<String, serde_json::Value>>(
            reader,
            Path::new("f.jsonl"),
        );
        match r {
            Err(ReadError::Record { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected the bad line, got {other:?}"),
        }
    }

    #[test]
    fn lines_are_read_by_number_whatever_their_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.jsonl");
        let mut text = b"\xEF\xBB\xBF{\"a\":1}\r\n\n{\"a\":\xff}\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        text.extend(b"\n{\"a\":4}");
        std::fs::write(&path, &text).expect("write");
        let mut seen = Vec::new();
        for_each_jsonl::<serde_json::Map<String, serde_json::Value>>(&path, |n, r| {
            seen.push((
                n,
                r.map(|m| m["a"].as_i64())
                    .map_err(|e| e.contains("UTF-8") || e.contains("longer")),
            ));
        })
        .expect("read");
        assert_eq!(
            seen,
            vec![
                (1, Ok(Some(1))),
                (3, Err(true)),
                (4, Err(true)),
                (5, Ok(Some(4)))
            ]
        );
        // A whole-file reader stops at the first bad line and names it.
        let e = read_jsonl::<serde_json::Value>(&path).expect_err("line 3");
        assert!(e.to_string().contains("f.jsonl:3:"), "{e}");
    }

    #[test]
    fn a_bad_track_or_truth_record_is_refused_naming_its_field() {
        let track = r#"{"id":1,"time":1000,"status":"confirmed","x":1.0,"y":2.0,"vel":[0,0],"cov":[1,0,1],"class":{"person":1,"vehicle":0,"animal":0},"hits":3,"first_seen":990}"#;
        let truth = r#"{"type":"state","id":1,"time":1000,"x":1,"y":0,"class":"person","role":"infiltrator","visible":true}"#;
        let track_error = |from: &str, to: &str| {
            parse::<super::super::TrackRecord>(track.replace(from, to).as_bytes())
                .expect_err(&format!("{from} → {to}"))
        };
        parse::<super::super::TrackRecord>(track.as_bytes()).expect("a good track record");
        parse::<super::super::TruthRecord>(truth.as_bytes()).expect("a good truth record");
        for (from, to, field) in [
            (
                r#""status":"confirmed""#,
                r#""status":"zzz""#,
                "field `status`",
            ),
            (r#""x":1.0"#, r#""x":"abc""#, "field `x`: expected a number"),
            (r#""x":1.0,"y":2.0"#, r#""lat":2.0"#, "field `lon`"),
            (r#""y":2.0"#, r#""lat":2.0"#, "not a mix"),
            (r#","x":1.0,"y":2.0"#, "", "fields `lon` and `lat`"),
            (r#""hits":3"#, r#""hits":-3"#, "field `hits`"),
        ] {
            let e = track_error(from, to);
            assert!(e.contains(field), "{from} → {to}: {e}");
        }
        let e =
            parse::<super::super::TruthRecord>(truth.replace(r#""y":0"#, r#""lon":0"#).as_bytes())
                .expect_err("x and lon");
        assert!(e.contains("not a mix"), "{e}");
    }
}
