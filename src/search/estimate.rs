//! What an iteration measured besides its verdict: the completion rate over its steady window.
//! An overloaded open-loop iteration completes requests at the server's saturated rate, which
//! for a work-conserving server is its capacity; the adaptive search aims its next rate from it
//! (see [`super`]'s "Adaptive" rules). This module holds the measurement and the one test that
//! decides whether it measured saturation or only the offered rate.

use serde::{Deserialize, Serialize};

/// Successful completions over a window of an iteration (or of the saturation probe), and
/// whether the server was saturated over it — then their rate measures its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Requests that ended successfully inside the window.
    pub completions: u64,
    /// The window's length, seconds.
    pub window_s: f64,
    /// The server fell behind throughout the window (decided by whoever measured it: see
    /// `load::saturation`); only saturated windows enter the capacity estimate.
    #[serde(default)]
    pub saturated: bool,
}

/// How many Poisson standard deviations the completions must fall short of the offered rate
/// before the shortfall counts as saturation: 3 σ, so an iteration the server kept up with is
/// read as saturated by chance in about 1 of 740 (one-sided normal tail).
pub const SATURATION_SIGMAS: f64 = 3.0;

/// Fewer expected arrivals than this in the window and no saturation is read from it: the
/// normal approximation of the Poisson count needs a few dozen events.
pub const MIN_EXPECTED: f64 = 20.0;

impl Throughput {
    /// Completions per minute; None for an empty or non-finite window.
    pub fn req_min(&self) -> Option<f64> {
        (self.window_s.is_finite() && self.window_s > 0.0)
            .then(|| self.completions as f64 * 60.0 / self.window_s)
    }

    /// Whether the server completed fewer requests than `offered_req_min` brings into the
    /// window by more than [`SATURATION_SIGMAS`] Poisson standard deviations of the offered
    /// count (`expected − completions > k·√expected`, `expected = offered/60 · window_s`): it
    /// fell behind, so its completion rate measures its capacity rather than the offered rate.
    /// False when fewer than [`MIN_EXPECTED`] arrivals were expected.
    pub fn saturated_at(&self, offered_req_min: f64) -> bool {
        if self.req_min().is_none() || !offered_req_min.is_finite() {
            return false;
        }
        let expected = offered_req_min / 60.0 * self.window_s;
        expected >= MIN_EXPECTED
            && expected - self.completions as f64 > SATURATION_SIGMAS * expected.sqrt()
    }
}

/// The search's current capacity estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Requests/minute.
    pub req_min: f64,
    /// How many measurements it is the median of.
    pub from: usize,
    /// True when it was measured by overloaded open-loop iterations (the verdict's own
    /// conditions) — then it bounds the MST from above; false when it comes from the
    /// saturation probe alone, which only aims the next rate.
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortfall_beyond_three_sigma_is_saturation_and_within_it_is_not() {
        // Offered 600 req/min over 60 s: 600 expected, σ = √600 ≈ 24.5, 3σ ≈ 73.5.
        let at = |completions| Throughput {
            completions,
            window_s: 60.0,
            saturated: false,
        };
        assert!(!at(600).saturated_at(600.0));
        assert!(!at(527).saturated_at(600.0)); // 73 short
        assert!(at(526).saturated_at(600.0)); // 74 short
        assert!(at(400).saturated_at(600.0));
        assert_eq!(at(400).req_min(), Some(400.0));
    }

    #[test]
    fn too_few_expected_arrivals_or_an_empty_window_say_nothing() {
        let t = Throughput {
            completions: 0,
            window_s: 1.0,
            saturated: false,
        };
        // 1 s at 600 req/min: 10 expected, below MIN_EXPECTED.
        assert!(!t.saturated_at(600.0));
        let empty = Throughput {
            completions: 5,
            window_s: 0.0,
            saturated: false,
        };
        assert_eq!(empty.req_min(), None);
        assert!(!empty.saturated_at(1e6));
    }
}
