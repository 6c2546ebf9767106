//! The waits between tries of something the store could not take for now (a full disk, a
//! failing commit): the writer's next transaction, the audit sink's group, a CoT sensor's batch.

use std::time::Duration;

/// The wait before the first try again.
pub const FIRST: Duration = Duration::from_millis(50);

/// The longest wait between two tries.
pub const MAX: Duration = Duration::from_secs(2);

/// Waits of [`FIRST`] doubling with each failure in a row up to [`MAX`].
#[derive(Clone, Copy, Debug)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(FIRST)
    }
}

impl Backoff {
    /// The wait before the next try; the one after it is twice as long, up to [`MAX`].
    pub fn next_wait(&mut self) -> Duration {
        let w = self.0;
        self.0 = (w * 2).min(MAX);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_longest_wait() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..8).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
    }
}
