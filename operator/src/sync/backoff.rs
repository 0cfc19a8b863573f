//! How long to wait before trying the control plane again: from `first`,
//! doubling to `max`, back to `first` after a success.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// The waits of one run of failures.
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    next: Duration,
}

impl Delays {
    pub fn new(backoff: Backoff) -> Delays {
        Delays {
            backoff,
            next: backoff.first,
        }
    }

    /// The wait after one more failure.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.backoff.max);
        wait
    }

    pub fn succeeded(&mut self) {
        self.next = self.backoff.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_the_cap_and_start_over_after_a_success() {
        let mut delays = Delays::new(Backoff::default());
        let waits: Vec<u64> = (0..7).map(|_| delays.failed().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        delays.succeeded();
        assert_eq!(delays.failed().as_secs(), 1);
    }
}
