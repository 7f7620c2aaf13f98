//! Fault injection, so the client, the evaluator and the search can be tested against the
//! failures real servers produce: error statuses, cut streams, garbage chunks, stalls and
//! refused connections.
//!
//! Every rate is a probability in `0..=1` drawn independently per request from a generator
//! seeded by the engine seed and the request's sequence number, so a run is reproducible.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which faults to inject. `Default` injects none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Share of requests answered at once with HTTP 500 and a JSON error body.
    pub http_500_rate: f64,
    /// Share of requests answered at once with HTTP 429 and a JSON error body.
    pub http_429_rate: f64,
    /// Share of requests whose connection is cut after `cut_after_tokens` tokens, without
    /// `[DONE]` (the response body ends in an error, as when a server dies).
    pub cut_rate: f64,
    /// Tokens sent before a cut (at most the request's length).
    pub cut_after_tokens: u32,
    /// Share of streamed requests that get one chunk whose data is not valid JSON, halfway
    /// through the stream; the stream then continues normally.
    pub malformed_rate: f64,
    /// Share of streamed requests that stop sending for `stall_secs` halfway through.
    pub stall_rate: f64,
    /// Length of a stall, wall-clock seconds.
    pub stall_secs: f64,
    /// Refuse connections `at` seconds after start `for` seconds: `(at, for)` (CLI schedule;
    /// at run time use `SimServer::refuse_connections_for`).
    pub refuse: Option<(f64, f64)>,
    /// Answer every request with one JSON body even when it asked for a stream, like a server
    /// or proxy that ignores `stream: true`.
    pub ignore_stream: bool,
    /// Never put `usage` in a streamed response, like servers that ignore `stream_options`.
    pub omit_usage: bool,
    /// Answer `/tokenize` and `/detokenize` with HTTP 404, like a server without those routes
    /// (TGI, or vLLM behind a proxy that passes only `/v1`), so a client must count tokens itself.
    pub no_tokenize: bool,
    /// The shape `/tokenize` answers in: vLLM's (default), llama.cpp's (`/apply-template` is
    /// not served: the simulator's chat template has no text form) or TGI's (`/chat_tokenize`
    /// too, and TGI's completions route: a text prompt only, one BOS token added to its count).
    pub tokenize_api: crate::client::TokenizeApi,
}

impl FaultConfig {
    /// Checks every rate and duration; the message names the option, the value and what is
    /// expected.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_labelled(|field| format!("fault {field} ="))
    }

    /// [`FaultConfig::validate`] with each field (`http_500_rate`, …, `refuse_at`,
    /// `refuse_for`) named by `label`, so a command line can name its own flags.
    pub fn validate_labelled(&self, label: impl Fn(&str) -> String) -> Result<(), String> {
        let rates = [
            ("http_500_rate", self.http_500_rate),
            ("http_429_rate", self.http_429_rate),
            ("cut_rate", self.cut_rate),
            ("malformed_rate", self.malformed_rate),
            ("stall_rate", self.stall_rate),
        ];
        for (name, v) in rates {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!(
                    "{} {v}: expected a probability between 0 and 1",
                    label(name)
                ));
            }
        }
        let refuse = self
            .refuse
            .map_or([None, None], |(at, dur)| [Some(at), Some(dur)]);
        let secs = [
            ("stall_secs", Some(self.stall_secs)),
            ("refuse_at", refuse[0]),
            ("refuse_for", refuse[1]),
        ];
        for (name, v) in secs {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(format!(
                    "{} {v}: expected a non-negative number of seconds",
                    label(name)
                ));
            }
        }
        Ok(())
    }

    /// Draws the faults of one request.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng) -> Drawn {
        // Always draw every variable, in a fixed order, so one rate does not shift the others.
        let u: [f64; 5] = [
            rng.random(),
            rng.random(),
            rng.random(),
            rng.random(),
            rng.random(),
        ];
        let status = if u[0] < self.http_500_rate {
            Some(500)
        } else if u[1] < self.http_429_rate {
            Some(429)
        } else {
            None
        };
        Drawn {
            status,
            cut_after: (u[2] < self.cut_rate).then_some(self.cut_after_tokens),
            malformed: u[3] < self.malformed_rate,
            stall: (u[4] < self.stall_rate && self.stall_secs > 0.0)
                .then(|| Duration::from_secs_f64(self.stall_secs)),
        }
    }
}

/// The faults drawn for one request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Drawn {
    pub status: Option<u16>,
    pub cut_after: Option<u32>,
    pub malformed: bool,
    pub stall: Option<Duration>,
}

/// The generator of request number `n`: independent streams per request, fixed by the seed.
pub(crate) fn request_rng(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_validated_by_name() {
        let bad = FaultConfig {
            cut_rate: 1.5,
            ..FaultConfig::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(e.contains("cut_rate") && e.contains("1.5"), "{e}");
        assert!(
            FaultConfig {
                stall_secs: -1.0,
                ..FaultConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(FaultConfig::default().validate().is_ok());
    }

    #[test]
    fn draws_follow_the_rates_and_the_seed() {
        let f = FaultConfig {
            http_500_rate: 0.2,
            malformed_rate: 1.0,
            ..FaultConfig::default()
        };
        let n500 = (0..5000)
            .filter(|&n| f.draw(&mut request_rng(7, n)).status == Some(500))
            .count();
        assert!((900..1100).contains(&n500), "{n500}");
        assert!(f.draw(&mut request_rng(7, 3)).malformed);
        let a = f.draw(&mut request_rng(7, 11)).status;
        assert_eq!(a, f.draw(&mut request_rng(7, 11)).status);
        assert!(
            FaultConfig::default()
                .draw(&mut request_rng(1, 1))
                .status
                .is_none()
        );
    }
}
