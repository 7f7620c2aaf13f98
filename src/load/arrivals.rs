//! Arrival processes: when each request of an iteration is due, as offsets from the start.
//! Open-loop load sends on these absolute deadlines whatever the server does.
//!
//! Every kind follows the same rule: the first request is due at offset 0 (load starts at once),
//! and each later one one gap after the previous; the schedule holds every offset below the
//! iteration's duration. Gaps have mean `60 / req_min` seconds. A Poisson process seen from one
//! of its arrivals has the same exponential gaps after it, so starting with an arrival at 0 only
//! adds that one request (expected count `1 + req_min × minutes`). Random kinds draw from a
//! seeded ChaCha8 generator, whose stream is the same on every platform, so a seed reproduces a
//! schedule exactly (for the pinned versions of `rand` and `rand_distr`).
//!
//! `gamma` is vLLM's `--burstiness`: gaps from Gamma(shape = b, scale = mean / b), as in
//! `get_request` of `vllm/benchmarks/serve.py` (`theta = 1.0 / (request_rate * burstiness)`,
//! `np.random.gamma(shape=burstiness, scale=theta)`). The mean gap stays `60 / req_min`
//! whatever `b`; the coefficient of variation of the gaps is `1 / sqrt(b)`, so `b = 1` is the
//! exponential (Poisson) and `b < 1` clusters requests into bursts with long quiet spells
//! between. Unlike vLLM, which draws a fixed number of gaps and then rescales them all to end
//! at `count / rate`, the schedule here is cut at the iteration's duration, so the count stays
//! random as a Poisson schedule's is.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma as GammaDist};
use serde::{Deserialize, Serialize};

/// Which arrival process (`ARRIVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    /// Exponential gaps (default): independent arrivals, as from many users.
    Poisson,
    /// Equal gaps of exactly 60 / REQ_MIN seconds.
    Constant,
    /// The old tool's: gaps uniform in ±30% around 60 / REQ_MIN.
    Jitter,
    /// Gamma-distributed gaps with mean 60 / REQ_MIN and shape `burstiness` (`BURSTINESS`, a
    /// positive finite number; see [`Gamma`]): 1 gives exponential gaps like `Poisson`, below 1
    /// bursts, above 1 steadier than Poisson.
    Gamma {
        /// The gamma shape; the gaps' coefficient of variation is `1 / sqrt(burstiness)`.
        burstiness: f64,
    },
}

/// Highest rate an arrival process accepts: one request per microsecond. Above it the gaps fall
/// below what the timer resolves and a schedule would not end in reasonable memory.
pub const MAX_REQ_MIN: f64 = 6.0e7;

/// The source of the gaps between consecutive arrivals.
pub trait ArrivalProcess {
    /// Time from the previous arrival to the next. `Duration::MAX` means no further arrival
    /// (the process was built from a rate that is not a positive finite number).
    fn next_gap(&mut self) -> Duration;
}

/// Mean gap in seconds, or None when `req_min` is not a rate we can schedule.
fn mean_gap_secs(req_min: f64) -> Option<f64> {
    (req_min.is_finite() && req_min > 0.0 && req_min <= MAX_REQ_MIN).then(|| 60.0 / req_min)
}

/// Turns gaps in seconds into whole-nanosecond `Duration`s without drift: the rounding
/// remainder of each gap is carried into the next, so the first k gaps always add up to within
/// half a nanosecond of their exact sum (truncating each gap lost up to 1 ns per arrival and put
/// an extra arrival just before the end of a constant schedule).
#[derive(Debug, Clone, Default)]
struct NanoCarry {
    carry_ns: f64,
}

impl NanoCarry {
    fn gap(&mut self, secs: f64) -> Duration {
        let exact_ns = secs * 1e9 + self.carry_ns;
        // Gaps past u64 nanoseconds (584 years) mean "never".
        if !exact_ns.is_finite() || exact_ns >= u64::MAX as f64 {
            return Duration::MAX;
        }
        let ns = exact_ns.round().max(0.0);
        self.carry_ns = exact_ns - ns;
        Duration::from_nanos(ns as u64)
    }
}

/// Gaps drawn independently from the distribution `D` (in seconds) with a seeded generator:
/// the shared machinery of [`Poisson`] and [`Gamma`].
#[derive(Debug, Clone)]
pub struct Drawn<D> {
    rng: ChaCha8Rng,
    /// None when the rate (or a shape) was unusable.
    dist: Option<D>,
    clock: NanoCarry,
}

impl<D> Drawn<D> {
    fn seeded(dist: Option<D>, seed: u64) -> Drawn<D> {
        Drawn {
            rng: ChaCha8Rng::seed_from_u64(seed),
            dist,
            clock: NanoCarry::default(),
        }
    }
}

impl<D: Distribution<f64>> ArrivalProcess for Drawn<D> {
    fn next_gap(&mut self) -> Duration {
        match &self.dist {
            Some(dist) => self.clock.gap(dist.sample(&mut self.rng)),
            None => Duration::MAX,
        }
    }
}

/// Exponential gaps: independent arrivals, as from many users.
pub type Poisson = Drawn<Exp<f64>>;

impl Poisson {
    /// Gaps with mean `60 / req_min` seconds drawn from a generator seeded with `seed`.
    pub fn new(req_min: f64, seed: u64) -> Poisson {
        let exp = mean_gap_secs(req_min).and_then(|mean| Exp::new(1.0 / mean).ok());
        Drawn::seeded(exp, seed)
    }
}

/// Gamma-distributed gaps (vLLM's `--burstiness`): shape `b`, scale `60 / req_min / b`
/// seconds, so the mean gap is `60 / req_min` and the coefficient of variation `1 / sqrt(b)`.
/// `b = 1` is the exponential, drawn exactly as [`Poisson`] draws it (same seed, same gaps).
pub type Gamma = Drawn<GammaDist<f64>>;

impl Gamma {
    /// Gaps with mean `60 / req_min` seconds and shape `burstiness` drawn from a generator
    /// seeded with `seed`. A shape that is not a positive finite number gives no arrival after
    /// the first (the config refuses it first).
    pub fn new(req_min: f64, burstiness: f64, seed: u64) -> Gamma {
        let gamma = mean_gap_secs(req_min)
            .filter(|_| burstiness.is_finite() && burstiness > 0.0)
            .and_then(|mean| GammaDist::new(burstiness, mean / burstiness).ok());
        Drawn::seeded(gamma, seed)
    }
}

/// Equal gaps of `60 / req_min` seconds (to the nanosecond: arrival k is due at `k × gap`).
#[derive(Debug, Clone)]
pub struct Constant {
    gap_secs: Option<f64>,
    clock: NanoCarry,
}

impl Constant {
    /// Gaps of `60 / req_min` seconds.
    pub fn new(req_min: f64) -> Constant {
        Constant {
            gap_secs: mean_gap_secs(req_min),
            clock: NanoCarry::default(),
        }
    }
}

impl ArrivalProcess for Constant {
    fn next_gap(&mut self) -> Duration {
        match self.gap_secs {
            Some(gap) => self.clock.gap(gap),
            None => Duration::MAX,
        }
    }
}

/// The old tool's jittered gaps: uniform in `[0.7, 1.3] × 60 / req_min` seconds.
#[derive(Debug, Clone)]
pub struct Jitter {
    rng: ChaCha8Rng,
    mean_gap_secs: Option<f64>,
    clock: NanoCarry,
}

impl Jitter {
    /// Jittered gaps around `60 / req_min` seconds drawn from a generator seeded with `seed`.
    pub fn new(req_min: f64, seed: u64) -> Jitter {
        Jitter {
            rng: ChaCha8Rng::seed_from_u64(seed),
            mean_gap_secs: mean_gap_secs(req_min),
            clock: NanoCarry::default(),
        }
    }
}

impl ArrivalProcess for Jitter {
    fn next_gap(&mut self) -> Duration {
        match self.mean_gap_secs {
            Some(mean) => self.clock.gap(mean * self.rng.random_range(0.7..=1.3)),
            None => Duration::MAX,
        }
    }
}

/// The arrival process of `kind` at `req_min` requests/minute; `seed` is ignored by `Constant`.
pub fn process(kind: ArrivalKind, req_min: f64, seed: u64) -> Box<dyn ArrivalProcess + Send> {
    match kind {
        ArrivalKind::Poisson => Box::new(Poisson::new(req_min, seed)),
        ArrivalKind::Constant => Box::new(Constant::new(req_min)),
        ArrivalKind::Jitter => Box::new(Jitter::new(req_min, seed)),
        ArrivalKind::Gamma { burstiness } => Box::new(Gamma::new(req_min, burstiness, seed)),
    }
}

/// Offsets from the iteration start of every request due in `[0, duration)`, sorted: the first
/// at 0, each later one a gap of [`process`] after the previous. Empty when `req_min` is not a
/// positive finite rate up to [`MAX_REQ_MIN`] (the config refuses those first).
pub fn schedule(kind: ArrivalKind, req_min: f64, duration: Duration, seed: u64) -> Vec<Duration> {
    let Some(mean) = mean_gap_secs(req_min) else {
        return Vec::new();
    };
    // A hint only; capped so a huge duration cannot reserve memory up front.
    let expected = (duration.as_secs_f64() / mean).min(1e6) as usize + 1;
    let mut offsets = Vec::with_capacity(expected);
    let mut arrivals = process(kind, req_min, seed);
    let mut t = Duration::ZERO;
    while t < duration {
        offsets.push(t);
        match t.checked_add(arrivals.next_gap()) {
            Some(next) => t = next,
            None => break,
        }
    }
    offsets
}

#[cfg(test)]
mod tests;
