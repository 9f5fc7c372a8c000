//! Speed and time-left estimates over a sliding window. Time is an input.

use std::collections::VecDeque;

/// How far a transfer has got, for display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Bytes the receiver has durably written (as acknowledged, on the sending side).
    pub bytes_done: u64,
    /// The file's size.
    pub bytes_total: u64,
    /// Average speed over the last [`progress_window_ms`] (0 when unknown).
    ///
    /// [`progress_window_ms`]: super::TransferConfig::progress_window_ms
    pub bytes_per_sec: f64,
    /// Estimated time left at that speed; `None` while the speed is unknown or zero.
    pub eta_ms: Option<f64>,
}

impl Progress {
    /// `bytes_done / bytes_total` in `0.0..=1.0` (1.0 for an empty file).
    pub fn fraction(&self) -> f64 {
        if self.bytes_total == 0 {
            1.0
        } else {
            self.bytes_done as f64 / self.bytes_total as f64
        }
    }
}

/// Most samples kept: one is taken at most every `window / MAX_SAMPLES` ms.
const MAX_SAMPLES: usize = 16;

/// Samples `(time, bytes done)` over a sliding window. Bounded: at most
/// `MAX_SAMPLES + 1` samples.
#[derive(Debug, Clone)]
pub(crate) struct ProgressMeter {
    window_ms: f64,
    samples: VecDeque<(f64, u64)>,
    last_event_ms: Option<f64>,
}

impl ProgressMeter {
    pub(crate) fn new(window_ms: f64) -> Self {
        Self {
            window_ms: if window_ms.is_finite() && window_ms > 0.0 {
                window_ms
            } else {
                1.0
            },
            samples: VecDeque::with_capacity(MAX_SAMPLES + 1),
            last_event_ms: None,
        }
    }

    /// Notes that `done` bytes were reached at `now_ms`.
    pub(crate) fn record(&mut self, now_ms: f64, done: u64) {
        // A clock that jumps backwards (or NaN) must not produce negative speeds.
        let now_ms = match self.samples.back() {
            Some(&(last, _)) if now_ms >= last => now_ms,
            Some(&(last, _)) => last,
            None => now_ms,
        };
        // Keep one sample at or before the window start as the base of the average.
        while self.samples.len() >= 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(t, _)| t <= now_ms - self.window_ms)
        {
            self.samples.pop_front();
        }
        let spacing = self.window_ms / MAX_SAMPLES as f64;
        if let Some(&(last, _)) = self.samples.back() {
            if now_ms - last < spacing {
                return;
            }
        }
        if self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((now_ms, done));
    }

    /// The current estimate, given `done` of `total` bytes at `now_ms`.
    pub(crate) fn snapshot(&self, now_ms: f64, done: u64, total: u64) -> Progress {
        let bytes_per_sec = match self.samples.front() {
            Some(&(t, base)) if now_ms > t && done >= base => {
                (done - base) as f64 * 1000.0 / (now_ms - t)
            }
            _ => 0.0,
        };
        let eta_ms = if done >= total {
            Some(0.0)
        } else if bytes_per_sec > 0.0 {
            Some((total - done) as f64 * 1000.0 / bytes_per_sec)
        } else {
            None
        };
        Progress {
            bytes_done: done,
            bytes_total: total,
            bytes_per_sec,
            eta_ms,
        }
    }

    /// Records `done` of `total` bytes at `now_ms` and returns a snapshot when a
    /// progress event is due (see [`Self::event_due`]).
    pub(crate) fn update(
        &mut self,
        now_ms: f64,
        done: u64,
        total: u64,
        interval_ms: f64,
    ) -> Option<Progress> {
        self.record(now_ms, done);
        self.event_due(now_ms, interval_ms, done >= total)
            .then(|| self.snapshot(now_ms, done, total))
    }

    /// Whether a progress event is due: at most one per `interval_ms`, but always the
    /// final one.
    pub(crate) fn event_due(&mut self, now_ms: f64, interval_ms: f64, finished: bool) -> bool {
        let due = finished
            || match self.last_event_ms {
                None => true,
                Some(last) => now_ms - last >= interval_ms,
            };
        if due {
            self.last_event_ms = Some(now_ms);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_and_eta_over_the_window() {
        let mut meter = ProgressMeter::new(1000.0);
        meter.record(0.0, 0);
        for t in 1..=20u32 {
            meter.record(f64::from(t) * 100.0, u64::from(t) * 10_000);
        }
        // 10 kB per 100 ms = 100 kB/s, steady.
        let p = meter.snapshot(2000.0, 200_000, 1_200_000);
        assert!((p.bytes_per_sec - 100_000.0).abs() < 1e-6, "{p:?}");
        assert!((p.eta_ms.unwrap() - 10_000.0).abs() < 1e-6);
        assert!((p.fraction() - 1.0 / 6.0).abs() < 1e-9);
        assert!(meter.samples.len() <= MAX_SAMPLES + 1);
    }

    #[test]
    fn speed_reflects_the_recent_window_and_decays_when_stalled() {
        let mut meter = ProgressMeter::new(1000.0);
        // Fast at first, then slow: the estimate only sees the slow part.
        for t in 0..=10u32 {
            meter.record(f64::from(t) * 100.0, u64::from(t) * 1_000_000);
        }
        for t in 11..=40u32 {
            meter.record(f64::from(t) * 100.0, 10_000_000 + u64::from(t - 10) * 1000);
        }
        let done = 10_000_000 + 30 * 1000;
        let p = meter.snapshot(4000.0, done, 20_000_000);
        assert!(
            p.bytes_per_sec > 9_000.0 && p.bytes_per_sec < 11_000.0,
            "{p:?}"
        );
        // Nothing more arrives for 9 seconds: the speed falls.
        let stalled = meter.snapshot(13_000.0, done, 20_000_000);
        assert!(stalled.bytes_per_sec < p.bytes_per_sec / 5.0, "{stalled:?}");
    }

    #[test]
    fn unknown_speed_and_odd_clocks() {
        let mut meter = ProgressMeter::new(1000.0);
        assert_eq!(meter.snapshot(0.0, 0, 10).eta_ms, None);
        meter.record(500.0, 5);
        meter.record(100.0, 6); // clock went backwards
        meter.record(f64::NAN, 7);
        let p = meter.snapshot(500.0, 7, 10);
        assert_eq!(p.bytes_per_sec, 0.0);
        assert_eq!(p.eta_ms, None);
        assert_eq!(meter.snapshot(900.0, 10, 10).eta_ms, Some(0.0));
        assert_eq!(meter.snapshot(0.0, 0, 0).fraction(), 1.0);
    }

    #[test]
    fn events_are_throttled_except_the_last() {
        let mut meter = ProgressMeter::new(1000.0);
        assert!(meter.event_due(0.0, 250.0, false));
        assert!(!meter.event_due(100.0, 250.0, false));
        assert!(meter.event_due(250.0, 250.0, false));
        assert!(meter.event_due(260.0, 250.0, true));
    }
}
