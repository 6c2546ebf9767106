//! Several detections files read as one, merged by time: each sensor's log may be its own
//! file, each in its own time order (one file holding one log after another would make the
//! second log late).

use limes_core::record::{LineReader, ReadError, SensorRecord};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// One record read: which file (index into the inputs), its line, and the record or why the
/// line is not one.
pub struct Read {
    /// Index of its file among the inputs.
    pub file: usize,
    /// 1-based line number in that file.
    pub line: usize,
    /// The record, or what is wrong with the line.
    pub rec: Result<SensorRecord, String>,
}

/// The next records of several files, the earliest first (a line that is no record first of
/// all, so it is named at once); records of one time in the order of the files.
pub struct Merged {
    files: Vec<LineReader<Box<dyn BufRead>>>,
    /// Each file's next record, read ahead: one per file, so memory does not grow with them.
    heads: Vec<Option<Read>>,
    bytes: u64,
}

/// Files read side by side at most: each holds a file descriptor, a read buffer and up to a
/// line of [`limes_core::record::MAX_LINE`] bytes.
pub const MAX_FILES: usize = 256;

/// Read buffers of all files together, bytes (each at least 64 KiB).
const BUFFERS: usize = 1 << 20;

impl Merged {
    /// Opens every file.
    pub fn open(paths: &[PathBuf]) -> anyhow::Result<Self> {
        if paths.len() > MAX_FILES {
            anyhow::bail!(
                "{} detections files: at most {MAX_FILES} are read side by side (concatenate each sensor's logs, in time order, first)",
                paths.len()
            );
        }
        let buffer = (BUFFERS / paths.len().max(1)).max(64 << 10);
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            files.push(open(p, buffer)?);
        }
        let mut m = Self {
            heads: (0..files.len()).map(|_| None).collect(),
            files,
            bytes: 0,
        };
        for k in 0..m.files.len() {
            m.fill(k)?;
        }
        Ok(m)
    }

    /// Bytes of the inputs read so far (for a progress bar).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The earliest record left, or `None` when every file has ended.
    pub fn next_read(&mut self) -> Result<Option<Read>, ReadError> {
        let key = |r: &Read| match &r.rec {
            Ok(rec) => rec.time().0,
            Err(_) => f64::NEG_INFINITY,
        };
        let mut best: Option<(usize, f64)> = None;
        for (k, h) in self.heads.iter().enumerate() {
            if let Some(r) = h {
                let t = key(r);
                // NaN never wins (a record's time is a number once validated; until then, last).
                if best.is_none_or(|(_, b)| t < b || b.is_nan() && !t.is_nan()) {
                    best = Some((k, t));
                }
            }
        }
        let Some((k, _)) = best else {
            return Ok(None);
        };
        let r = self.heads[k].take();
        self.fill(k)?;
        Ok(r)
    }

    /// Reads file `k`'s next record into its head.
    fn fill(&mut self, k: usize) -> Result<(), ReadError> {
        let Some((line, text)) = self.files[k].next_line()? else {
            return Ok(());
        };
        self.bytes += text.as_ref().map_or(0, |t| t.len() as u64 + 1);
        let rec = text.and_then(|t| SensorRecord::from_json(t).map_err(|e| e.to_string()));
        self.heads[k] = Some(Read { file: k, line, rec });
        Ok(())
    }
}

/// A file's lines, read `buffer` bytes at a time; `-` is standard input.
fn open(path: &Path, buffer: usize) -> Result<LineReader<Box<dyn BufRead>>, ReadError> {
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(BufReader::with_capacity(buffer, std::io::stdin().lock()))
    } else {
        let file = File::open(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Box::new(BufReader::with_capacity(buffer, file))
    };
    Ok(LineReader::new(reader, path))
}
