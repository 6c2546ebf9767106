//! The server's clock: the wall clock, or an accelerated drill clock for exercises and demos.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as the server sees them.
#[derive(Clone, Debug)]
pub struct Clock {
    origin: Instant,
    start: f64,
    speed: f64,
    wall: bool,
}

impl Clock {
    /// The wall clock.
    pub fn wall() -> Self {
        Self {
            wall: true,
            ..Self::drill(wall_now(), 1.0)
        }
    }

    /// A clock that reads `start` now and runs `speed` times faster than the wall clock.
    pub fn drill(start: f64, speed: f64) -> Self {
        Self {
            origin: Instant::now(),
            start,
            speed,
            wall: false,
        }
    }

    /// The current time, seconds since the Unix epoch.
    pub fn now(&self) -> f64 {
        if self.wall {
            return wall_now();
        }
        self.start + self.origin.elapsed().as_secs_f64() * self.speed
    }

    /// Whether this is a drill clock (an exercise or a replay), not the wall clock.
    pub fn is_drill(&self) -> bool {
        !self.wall
    }

    /// How many clock seconds pass per wall-clock second.
    pub fn speed(&self) -> f64 {
        self.speed
    }
}

/// The wall clock, seconds since the Unix epoch.
pub fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
