//! Splits a CoT byte stream into events on `</event>`, across partial reads, skipping XML
//! prologs and whitespace between events, with a bound on one event's size.

/// One event may not be larger than this, bytes.
pub const MAX_EVENT: usize = 64 * 1024;

const END: &[u8] = b"</event>";

/// An event grew past the bound without ending.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("CoT event larger than {0} bytes without </event>")]
pub struct TooLarge(pub usize);

/// Accumulates bytes and yields whole events.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    scanned: usize,
    max: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(MAX_EVENT)
    }
}

impl Framer {
    /// A framer with a bound on one event's size.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole event (from `<event` through `</event>`, prolog stripped), if one is
    /// buffered; an error when the buffered part of an event exceeds the bound.
    pub fn next_event(&mut self) -> Result<Option<Vec<u8>>, TooLarge> {
        let from = self.scanned.saturating_sub(END.len() - 1);
        match find(&self.buf[from..], END) {
            Some(i) => {
                let end = from + i + END.len();
                let frame: Vec<u8> = self.buf.drain(..end).collect();
                self.scanned = 0;
                Ok(Some(strip_prolog(&frame).to_vec()))
            }
            None => {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    let n = self.buf.len();
                    self.buf.clear();
                    self.scanned = 0;
                    return Err(TooLarge(n));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_partial_reads_and_skips_prologs() {
        let text = b"<?xml version=\"1.0\"?>\n<event uid=\"a\"></event>  <event uid=\"b\"><detail/></event>";
        for cut in 1..text.len() {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for part in [&text[..cut], &text[cut..]] {
                f.push(part);
                while let Some(e) = f.next_event().unwrap() {
                    got.push(String::from_utf8(e).unwrap());
                }
            }
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
    fn refuses_an_event_past_the_bound() {
        let mut f = Framer::new(100);
        f.push(&[b'x'; 101]);
        assert_eq!(f.next_event(), Err(TooLarge(101)));
        f.push(b"<event></event>");
        assert_eq!(
            f.next_event().unwrap().as_deref(),
            Some(&b"<event></event>"[..])
        );
    }
}
