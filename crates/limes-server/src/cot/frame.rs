//! Splits a CoT byte stream into events on `</event>`, across partial reads, skipping XML
//! prologs and whitespace between events: a [`tokio_util::codec::Decoder`], apart from I/O.
//! A frame (everything up to and including `</event>`) larger than the bound is refused, however
//! the bytes arrived; the buffer never holds more than the bound plus one read.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// One frame may not be larger than this, bytes.
pub const MAX_EVENT: usize = 64 * 1024;

const END: &[u8] = b"</event>";

/// Why the stream cannot be framed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame grew past the bound.
    #[error("CoT event larger than {max} bytes (at least {seen} without </event>)")]
    TooLarge {
        /// The bound.
        max: usize,
        /// Bytes seen in the frame.
        seen: usize,
    },
    /// Reading failed.
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// The CoT framing codec.
#[derive(Debug)]
pub struct CotCodec {
    scanned: usize,
    max: usize,
}

impl Default for CotCodec {
    fn default() -> Self {
        Self::new(MAX_EVENT)
    }
}

impl CotCodec {
    /// A codec with a bound on one frame's size.
    pub fn new(max: usize) -> Self {
        Self { scanned: 0, max }
    }
}

impl Decoder for CotCodec {
    type Item = Vec<u8>;
    type Error = FrameError;

    /// The next whole event (from `<event` through `</event>`, prolog stripped), if buffered.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<u8>>, FrameError> {
        let from = self.scanned.saturating_sub(END.len() - 1);
        match find(&src[from..], END) {
            Some(i) => {
                let end = from + i + END.len();
                self.scanned = 0;
                if end > self.max {
                    src.clear();
                    return Err(FrameError::TooLarge {
                        max: self.max,
                        seen: end,
                    });
                }
                let frame = src.split_to(end);
                Ok(Some(strip_prolog(&frame).to_vec()))
            }
            None => {
                self.scanned = src.len();
                if src.len() > self.max {
                    let seen = src.len();
                    src.clear();
                    self.scanned = 0;
                    return Err(FrameError::TooLarge {
                        max: self.max,
                        seen,
                    });
                }
                Ok(None)
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Drops everything before `<event` (whitespace, `<?xml …?>`, comments).
fn strip_prolog(frame: &[u8]) -> &[u8] {
    match find(frame, b"<event") {
        Some(i) => &frame[i..],
        None => frame,
    }
}

/// Frames a whole byte slice delivered in chunks of `cut` bytes (tests and fuzzing): the
/// events, and the error that stopped framing, if any.
pub fn frame_all(data: &[u8], cut: usize, max: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut codec = CotCodec::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in data.chunks(cut.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_partial_reads_and_skips_prologs() {
        let text = b"<?xml version=\"1.0\"?>\n<event uid=\"a\"></event>  <event uid=\"b\"><detail/></event>";
        for cut in 1..text.len() {
            let (got, err) = frame_all(text, cut, MAX_EVENT);
            assert!(err.is_none());
            let got: Vec<String> = got
                .into_iter()
                .map(|e| String::from_utf8(e).unwrap())
                .collect();
            assert_eq!(
                got,
                vec![
                    "<event uid=\"a\"></event>",
                    "<event uid=\"b\"><detail/></event>"
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn refuses_a_frame_past_the_bound_even_when_it_arrives_whole() {
        let mut big = b"<event>".to_vec();
        big.extend(std::iter::repeat_n(b'x', 100));
        big.extend_from_slice(b"</event>");
        let (got, err) = frame_all(&big, big.len(), 100);
        assert!(got.is_empty());
        assert!(matches!(err, Some(FrameError::TooLarge { .. })));
        let (got, err) = frame_all(&big, 7, 100);
        assert!(got.is_empty());
        assert!(matches!(err, Some(FrameError::TooLarge { .. })));
        let (got, err) = frame_all(&big, 7, big.len());
        assert_eq!(got.len(), 1);
        assert!(err.is_none());
    }
}
