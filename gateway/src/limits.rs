//! Per-key limits of requests and tokens per minute, decided on the
//! request path. A sliding window estimated from two fixed minutes (the
//! current one's count plus the previous one's, weighted by how much of it
//! still lies within the last 60 s): constant memory per key, no burst of
//! twice the limit at a minute's edge, and exact enough for a quota.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use uuid::Uuid;

use crate::error::GatewayError;

const MINUTE_MS: i64 = 60_000;

/// Counts in the current and the previous whole minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    minute: i64,
    current: u64,
    previous: u64,
}

impl Window {
    fn at(self, now_ms: i64) -> Window {
        let minute = now_ms.div_euclid(MINUTE_MS);
        match minute - self.minute {
            0 => self,
            1 => Window {
                minute,
                current: 0,
                previous: self.current,
            },
            _ => Window {
                minute,
                current: 0,
                previous: 0,
            },
        }
    }

    /// The estimated count over the 60 s up to `now_ms`.
    fn estimate(self, now_ms: i64) -> u64 {
        let w = self.at(now_ms);
        let into = u64::try_from(now_ms.rem_euclid(MINUTE_MS)).unwrap_or(0);
        let weight = 60_000 - into;
        w.current + (w.previous * weight).div_ceil(60_000)
    }

    /// Admits `cost` more at `now_ms` if the window stays within `limit`,
    /// counting it; otherwise how long until it would be admitted.
    pub fn take(&mut self, cost: u64, limit: u64, now_ms: i64) -> Result<(), Duration> {
        let w = self.at(now_ms);
        if w.estimate(now_ms) + cost <= limit {
            *self = Window {
                current: w.current + cost,
                ..w
            };
            return Ok(());
        }
        // At the next minute the previous count starts falling away and the
        // current one moves into its place: try again then at the latest.
        let rest = MINUTE_MS - now_ms.rem_euclid(MINUTE_MS);
        Err(Duration::from_millis(u64::try_from(rest).unwrap_or(1)))
    }

    /// Counts `amount` already spent (tokens learnt after the answer).
    pub fn spend(&mut self, amount: u64, now_ms: i64) {
        let w = self.at(now_ms);
        *self = Window {
            current: w.current + amount,
            ..w
        };
    }
}

/// Every key's windows.
#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<Uuid, (Window, Window)>>,
}

impl Limiter {
    /// Admits one request of `key` under its requests-per-minute limit, and
    /// refuses it while its tokens of the last minute are at their limit.
    pub fn admit(
        &self,
        key: Uuid,
        requests_per_minute: Option<u32>,
        tokens_per_minute: Option<u32>,
        now_ms: i64,
    ) -> Result<(), GatewayError> {
        if requests_per_minute.is_none() && tokens_per_minute.is_none() {
            return Ok(());
        }
        let mut windows = self.windows.lock().map_err(|_| GatewayError::KeysStale)?;
        let (requests, tokens) = windows.entry(key).or_default();
        if let Some(limit) = tokens_per_minute {
            // Tokens are known only after the answer: refuse once the last
            // minute's are spent, admit otherwise.
            tokens
                .take(0, u64::from(limit).saturating_sub(1), now_ms)
                .map_err(|retry_after| GatewayError::RateLimited {
                    what: "tokens",
                    limit,
                    retry_after,
                })?;
        }
        if let Some(limit) = requests_per_minute {
            requests
                .take(1, u64::from(limit), now_ms)
                .map_err(|retry_after| GatewayError::RateLimited {
                    what: "requests",
                    limit,
                    retry_after,
                })?;
        }
        Ok(())
    }

    /// Counts the tokens a request of `key` used.
    pub fn spent(&self, key: Uuid, tokens: u64, now_ms: i64) {
        if let Ok(mut windows) = self.windows.lock()
            && let Some((_, window)) = windows.get_mut(&key)
        {
            window.spend(tokens, now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_040_000; // a minute's start

    #[test]
    fn requests_within_the_limit_pass_and_the_next_waits_for_the_minute() {
        let mut w = Window::default();
        for i in 0..3 {
            assert_eq!(w.take(1, 3, T0 + i * 1_000), Ok(()));
        }
        assert_eq!(
            w.take(1, 3, T0 + 15_000),
            Err(Duration::from_millis(45_000))
        );
    }

    #[test]
    fn the_previous_minute_weighs_by_how_much_of_it_is_still_in_the_window() {
        let mut w = Window::default();
        assert_eq!(w.take(10, 10, T0 + 59_000), Ok(()));
        // 15 s into the next minute, 45/60 of the previous 10 still count.
        assert_eq!(w.estimate(T0 + 75_000), 8);
        assert_eq!(w.take(2, 10, T0 + 75_000), Ok(()));
        assert!(w.take(1, 10, T0 + 75_000).is_err());
        // Two minutes on, all has fallen away.
        assert_eq!(w.estimate(T0 + 180_000), 0);
    }

    #[test]
    fn tokens_refuse_only_once_spent() {
        let limiter = Limiter::default();
        let key = Uuid::from_u128(1);
        assert!(limiter.admit(key, None, Some(100), T0).is_ok());
        limiter.spent(key, 99, T0 + 1_000);
        assert!(
            limiter.admit(key, None, Some(100), T0 + 2_000).is_ok(),
            "99 < 100"
        );
        limiter.spent(key, 1, T0 + 3_000);
        let refused = limiter.admit(key, None, Some(100), T0 + 4_000).unwrap_err();
        assert_eq!(refused.code(), "tokens_per_minute");
        // Another key is not held by this one's spending.
        assert!(
            limiter
                .admit(Uuid::from_u128(2), None, Some(100), T0 + 4_000)
                .is_ok()
        );
    }

    #[test]
    fn a_key_without_limits_is_not_tracked() {
        let limiter = Limiter::default();
        for _ in 0..1_000 {
            assert!(limiter.admit(Uuid::from_u128(1), None, None, T0).is_ok());
        }
        assert!(limiter.windows.lock().unwrap().is_empty());
    }
}
