//! Reading and writing JSON Lines with errors that name the line and the field.

use serde::{de::DeserializeOwned, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
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

/// Reads every record of a JSON Lines file, skipping blank lines; stops at the first bad line.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let rec = serde_json::from_str(&line).map_err(|e| ReadError::Record {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(rec);
    }
    Ok(out)
}

/// Streams a JSON Lines file: calls `f` with the 1-based line number and each record, or the
/// error for a line that is not one (naming the field where serde knows it). Only I/O errors
/// stop the read.
pub fn for_each_jsonl<T: DeserializeOwned>(
    path: &Path,
    mut f: impl FnMut(usize, Result<T, String>),
) -> Result<(), ReadError> {
    for_each_line(path, |n, line| {
        f(n, serde_json::from_str(line).map_err(|e| e.to_string()))
    })
}

/// Streams the lines of a file that are not blank: calls `f` with the 1-based line number and
/// the line. Only I/O errors stop the read.
pub fn for_each_line(path: &Path, mut f: impl FnMut(usize, &str)) -> Result<(), ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        f(i + 1, &line);
    }
    Ok(())
}

/// A buffered JSON Lines writer.
pub struct JsonlWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl JsonlWriter {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
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
