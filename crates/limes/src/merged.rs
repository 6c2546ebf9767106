//! Several detections files read as one, merged by time: each sensor's log may be its own
//! file, each in its own time order (one file holding one log after another would make the
//! second log late).

use limes_core::record::{LineReader, ReadError, SensorRecord};
use std::collections::VecDeque;
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
///
/// A record is placed by its time only when that time fits its own file: one that is no valid
/// record, or more than `window` ahead of most of the records after it in its file (a wrong
/// clock), goes out at once, to be refused where it stands, instead of holding its file back
/// until every other file has ended and making the rest of it late.
pub struct Merged {
    files: Vec<LineReader<Box<dyn BufRead>>>,
    /// Each file's next records, read ahead: at most [`AHEAD`] + 1 per file, so memory does
    /// not grow with the files' length.
    queues: Vec<VecDeque<Read>>,
    /// Where each queue's first record goes ([`Merged::place`]), worked out when the queue
    /// changes rather than for every record read from any file.
    places: Vec<Option<f64>>,
    window: f64,
    bytes: u64,
}

/// Files read side by side at most: each holds a file descriptor, a read buffer and up to
/// [`AHEAD`] + 1 records of up to [`limes_core::record::MAX_LINE`] bytes.
pub const MAX_FILES: usize = 64;

/// Records of its own file a record is judged by before its time places it.
const AHEAD: usize = 4;

/// Read buffers of all files together, bytes (each at least 64 KiB).
const BUFFERS: usize = 1 << 20;

impl Merged {
    /// Opens every file; `window` is the tracker's reorder window, seconds.
    pub fn open(paths: &[PathBuf], window: f64) -> anyhow::Result<Self> {
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
            queues: (0..files.len()).map(|_| VecDeque::new()).collect(),
            places: vec![None; files.len()],
            files,
            window,
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
        let mut best: Option<(usize, f64)> = None;
        for (k, place) in self.places.iter().enumerate() {
            let Some(t) = *place else { continue };
            if best.is_none_or(|(_, b)| t < b) {
                best = Some((k, t));
            }
        }
        let Some((k, _)) = best else {
            return Ok(None);
        };
        let r = self.queues[k].pop_front();
        self.fill(k)?;
        Ok(r)
    }

    /// Where the first record of a file's queue goes: its time, or −∞ (at once) when it is no
    /// valid record or is more than the window ahead of most of the records after it.
    fn place(&self, q: &VecDeque<Read>) -> Option<f64> {
        let first = q.front()?;
        let Ok(rec) = first.rec.as_ref().map_err(|_| ()).and_then(|r| {
            r.validate().map_err(|_| ())?;
            Ok(r)
        }) else {
            return Some(f64::NEG_INFINITY);
        };
        let t = rec.time().0;
        let (after, behind) = q
            .iter()
            .skip(1)
            .filter_map(|r| r.rec.as_ref().ok())
            .map(|r| r.time().0)
            .filter(|u| u.is_finite())
            .fold((0, 0), |(n, b), u| {
                (n + 1, b + usize::from(u < t - self.window))
            });
        if after > 0 && behind * 2 > after {
            return Some(f64::NEG_INFINITY);
        }
        Some(t)
    }

    /// Tops file `k`'s queue up to [`AHEAD`] + 1 records and places its first.
    fn fill(&mut self, k: usize) -> Result<(), ReadError> {
        while self.queues[k].len() <= AHEAD {
            let Some((line, text)) = self.files[k].next_line()? else {
                break;
            };
            self.bytes += text.as_ref().map_or(0, |t| t.len() as u64 + 1);
            let rec = text.and_then(|t| SensorRecord::from_json(t).map_err(|e| e.to_string()));
            self.queues[k].push_back(Read { file: k, line, rec });
        }
        self.places[k] = self.place(&self.queues[k]);
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
