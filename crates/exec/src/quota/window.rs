//! A fixed accounting window: it opens with the first use after the last
//! one closed and closes `len` later; until then uses add up.

use std::time::{Duration, Instant};

/// Uses counted in one window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Window {
    opened: Option<Instant>,
    used: u64,
}

impl Window {
    /// Forgets a window that has closed by `now`.
    fn roll(&mut self, now: Instant, len: Duration) {
        if self.opened.is_some_and(|t| now >= t + len) {
            *self = Window::default();
        }
    }

    /// What is used in the window open at `now` (0 when none is).
    pub(crate) fn used(&mut self, now: Instant, len: Duration) -> u64 {
        self.roll(now, len);
        self.used
    }

    /// Adds `n` to the window open at `now` (opening one if none is).
    pub(crate) fn add(&mut self, now: Instant, len: Duration, n: u64) {
        self.roll(now, len);
        self.opened.get_or_insert(now);
        self.used = self.used.saturating_add(n);
    }

    /// Time until the open window closes (zero when none is open).
    pub(crate) fn closes_in(&self, now: Instant, len: Duration) -> Duration {
        self.opened.map_or(Duration::ZERO, |t| (t + len).saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_opens_on_first_use_and_resets_when_it_closes() {
        let t0 = Instant::now();
        let len = Duration::from_secs(60);
        let mut w = Window::default();
        assert_eq!(w.used(t0, len), 0);
        w.add(t0 + Duration::from_secs(5), len, 2);
        w.add(t0 + Duration::from_secs(30), len, 1);
        assert_eq!(w.used(t0 + Duration::from_secs(64), len), 3);
        assert_eq!(w.closes_in(t0 + Duration::from_secs(35), len), Duration::from_secs(30));
        assert_eq!(w.used(t0 + Duration::from_secs(65), len), 0, "closed 60 s after it opened");
        w.add(t0 + Duration::from_secs(70), len, 1);
        assert_eq!(w.closes_in(t0 + Duration::from_secs(70), len), len);
    }
}
