//! Per-connection token bucket for incoming frames.
//!
//! Sans-IO: the caller passes the current time in, so the arithmetic is unit-tested
//! without sleeping.

use std::time::{Duration, Instant};

/// How many frames a connection may send: a sustained rate plus a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second (sustained frames per second).
    pub per_second: f64,
    /// Bucket capacity: how many frames may arrive back to back.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 100,
        }
    }
}

/// A token bucket that starts full.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket as of `now`.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            updated: now,
        }
    }

    /// Takes one token if there is one; `false` means the frame should be dropped.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated);
        self.updated = now;
        let refill = elapsed.as_secs_f64() * self.limit.per_second.max(0.0);
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Sends at most one "you are rate limited" notice per `interval`, so a flood does
/// not turn into a flood of error frames the other way.
#[derive(Debug, Clone)]
pub(crate) struct NoticeThrottle {
    interval: Duration,
    last: Option<Instant>,
}

impl NoticeThrottle {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Whether a notice may be sent at `now`; records it if so.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let start = Instant::now();
        let limit = RateLimit {
            per_second: 10.0,
            burst: 3,
        };
        let mut bucket = TokenBucket::new(limit, start);
        assert!(bucket.try_take(start));
        assert!(bucket.try_take(start));
        assert!(bucket.try_take(start));
        assert!(!bucket.try_take(start));
        // 100 ms at 10/s refills exactly one token.
        let later = start + Duration::from_millis(100);
        assert!(bucket.try_take(later));
        assert!(!bucket.try_take(later));
        // A long pause refills only up to the burst.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.try_take(much_later));
        }
        assert!(!bucket.try_take(much_later));
    }

    #[test]
    fn notices_are_throttled() {
        let start = Instant::now();
        let mut throttle = NoticeThrottle::new(Duration::from_secs(1));
        assert!(throttle.allow(start));
        assert!(!throttle.allow(start + Duration::from_millis(999)));
        assert!(throttle.allow(start + Duration::from_secs(1)));
    }
}
