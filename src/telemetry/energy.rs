//! One iteration's GPU figures over its steady window: power, energy (the energy counters'
//! difference when every GPU exports one, else the trapezoid ∫P dt over the polled power),
//! energy per output token and per request, utilisation and memory.
//!
//! The window is the one the `plateau` evaluator counts completions in (`[FILTER_BUFFER,
//! sending stopped − FILTER_BUFFER)`, the whole sending period when that is empty), so the
//! energy and the work it bought cover the same seconds: the output tokens of successful
//! requests that arrived inside it and the successful requests that ended inside it.

use super::dcgm;
use crate::iteration::IterationMeta;
use crate::record::RequestRecord;
use crate::scrape::ServerMetrics;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One GPU at one poll (a row of `gpu_metrics.csv`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GpuRow {
    /// Seconds from the iteration's t0.
    pub time_s: f64,
    /// The GPU (see [`dcgm::gpu_of`]).
    pub gpu: String,
    /// Power draw, W.
    pub power_w: Option<f64>,
    /// Energy counter, mJ (since boot; DCGM only).
    pub energy_mj: Option<f64>,
    /// Utilisation, %.
    pub util_pct: Option<f64>,
    /// Framebuffer memory used, MiB.
    pub memory_used_mib: Option<f64>,
}

/// Where an iteration's energy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyFrom {
    /// The difference of the GPUs' energy counters across the window.
    Counter,
    /// The trapezoid ∫P dt over the polled power.
    Power,
}

impl EnergyFrom {
    /// The word written in `GPU_ENERGY_FROM`.
    pub fn as_str(self) -> &'static str {
        match self {
            EnergyFrom::Counter => "counter",
            EnergyFrom::Power => "power",
        }
    }
}

/// One iteration's GPU figures (`gpu` in `results.json`, the `GPU_*` columns of `results.csv`).
/// Power, energy and memory are summed over the GPUs; utilisation is their mean.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GpuSummary {
    /// GPUs seen.
    pub gpus: u32,
    /// Polls that answered.
    pub samples: u32,
    /// Polls that failed.
    pub failures: u32,
    /// Start of the steady window, s from t0.
    pub window_start_s: f64,
    /// Its length, s.
    pub window_s: f64,
    /// Mean power over the window (∫P dt ÷ its length), W.
    pub mean_power_w: Option<f64>,
    /// Largest power polled in the window, W.
    pub max_power_w: Option<f64>,
    /// Energy over the window, J.
    pub energy_j: Option<f64>,
    /// Where `energy_j` comes from.
    pub energy_from: Option<EnergyFrom>,
    /// Output tokens of successful requests that arrived in the window (a request's tokens
    /// shared out by its token arrival times).
    pub output_tokens: f64,
    /// Successful requests that ended in the window.
    pub requests: u64,
    /// `energy_j / output_tokens`, J.
    pub joules_per_output_token: Option<f64>,
    /// `energy_j / requests`, J.
    pub joules_per_request: Option<f64>,
    /// Mean utilisation over the polls in the window and the GPUs, %.
    pub mean_util_pct: Option<f64>,
    /// Mean memory used over the polls in the window, MiB.
    pub mean_memory_used_mib: Option<f64>,
}

/// The polls as rows, one per GPU and poll, in time then GPU order.
pub fn rows(polled: &ServerMetrics) -> Vec<GpuRow> {
    let mut by: BTreeMap<(u64, String), GpuRow> = BTreeMap::new();
    let mut order: Vec<f64> = Vec::new();
    for s in &polled.samples {
        // Samples of one poll share one time; its position keeps the time order.
        if order.last() != Some(&s.time_s) {
            order.push(s.time_s);
        }
        let key = (order.len() as u64, dcgm::gpu_of(&s.labels));
        let row = by.entry(key.clone()).or_insert_with(|| GpuRow {
            time_s: s.time_s,
            gpu: key.1,
            ..GpuRow::default()
        });
        let field = match s.metric.as_str() {
            dcgm::POWER => &mut row.power_w,
            dcgm::ENERGY => &mut row.energy_mj,
            dcgm::UTIL => &mut row.util_pct,
            dcgm::FB_USED => &mut row.memory_used_mib,
            _ => continue,
        };
        *field = Some(s.value);
    }
    by.into_values().collect()
}

/// Per poll time, `f` summed over the GPUs; a poll where some GPU lacks the field is left out.
fn summed(rows: &[GpuRow], f: impl Fn(&GpuRow) -> Option<f64>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, Option<f64>)> = Vec::new();
    for r in rows {
        let v = f(r);
        match out.last_mut() {
            Some((t, acc)) if *t == r.time_s => *acc = acc.zip(v).map(|(a, b)| a + b),
            _ => out.push((r.time_s, v)),
        }
    }
    out.into_iter().filter_map(|(t, v)| Some((t, v?))).collect()
}

/// `points` (time-ordered) linearly interpolated at `t`; None outside their span.
fn at(points: &[(f64, f64)], t: f64) -> Option<f64> {
    let i = points.iter().position(|p| p.0 >= t)?;
    let (t1, v1) = points[i];
    if t1 == t {
        return Some(v1);
    }
    let (t0, v0) = *points.get(i.checked_sub(1)?)?;
    Some(v0 + (v1 - v0) * (t - t0) / (t1 - t0))
}

/// ∫ over `[a, b]` of `points` joined by straight lines and held flat beyond the first and
/// last; None without points.
fn integral(points: &[(f64, f64)], a: f64, b: f64) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    let value = |t: f64| {
        if t <= first.0 {
            first.1
        } else if t >= last.0 {
            last.1
        } else {
            at(points, t).unwrap_or(last.1)
        }
    };
    let mut knots: Vec<f64> = vec![a];
    knots.extend(points.iter().map(|p| p.0).filter(|&t| t > a && t < b));
    knots.push(b);
    Some(
        knots
            .windows(2)
            .map(|w| (w[1] - w[0]) * (value(w[0]) + value(w[1])) / 2.0)
            .sum(),
    )
}

/// The steady window `[a, b)` in seconds from t0 (the `plateau` evaluator's).
pub fn window(meta: &IterationMeta) -> (f64, f64) {
    let (mut w0, mut w1) = crate::metrics::send_window(meta);
    if w1 <= w0 {
        (w0, w1) = (Duration::ZERO, meta.sending_stopped);
    }
    (w0.as_secs_f64(), w1.as_secs_f64())
}

/// Output tokens of successful requests that arrived in `[a, b)`, and the successful requests
/// that ended there. A request's tokens are shared out by its token arrival times (an answer
/// counted from `usage` may carry several tokens per event); one without any is counted at
/// its end.
pub fn work_in(records: &[RequestRecord], (a, b): (f64, f64)) -> (f64, u64) {
    let inside = |t: f64| t >= a && t < b;
    let mut tokens = 0.0;
    let mut requests = 0;
    for r in records.iter().filter(|r| r.success()) {
        let send = r.actual_send.as_secs_f64();
        let n = r.token_offsets_us.len();
        if n == 0 {
            if inside(r.end.as_secs_f64()) {
                tokens += f64::from(r.output_tokens);
            }
        } else {
            let hit = r
                .token_offsets_us
                .iter()
                .filter(|&&us| inside(send + f64::from(us) / 1e6))
                .count();
            tokens += f64::from(r.output_tokens) * hit as f64 / n as f64;
        }
        if inside(r.end.as_secs_f64()) {
            requests += 1;
        }
    }
    (tokens, requests)
}

/// The figures of one iteration from its polls `polled`, over `window` (s from t0), with the
/// work `(output_tokens, requests)` done in it.
pub fn summarize(polled: &ServerMetrics, window: (f64, f64), work: (f64, u64)) -> GpuSummary {
    let rows = rows(polled);
    let (a, b) = window;
    let span = b - a;
    let power = summed(&rows, |r| r.power_w);
    let energy = summed(&rows, |r| r.energy_mj);
    let in_window = |t: f64| t >= a && t <= b;
    let counter = at(&energy, a)
        .zip(at(&energy, b))
        // A counter that went backwards (a driver reload) is no measurement.
        .filter(|(e0, e1)| e1 >= e0)
        .map(|(e0, e1)| (e1 - e0) / 1000.0);
    let trapezoid = integral(&power, a, b).filter(|_| span > 0.0);
    let (energy_j, energy_from) = match (counter, trapezoid) {
        (Some(j), _) => (Some(j), Some(EnergyFrom::Counter)),
        (None, Some(j)) => (Some(j), Some(EnergyFrom::Power)),
        (None, None) => (None, None),
    };
    let mean_of = |points: Vec<f64>| {
        (!points.is_empty()).then(|| points.iter().sum::<f64>() / points.len() as f64)
    };
    let util: Vec<f64> = {
        let mut per_poll: Vec<(f64, f64, u32)> = Vec::new();
        for r in rows.iter().filter(|r| in_window(r.time_s)) {
            let Some(u) = r.util_pct else { continue };
            match per_poll.last_mut() {
                Some((t, sum, n)) if *t == r.time_s => (*sum, *n) = (*sum + u, *n + 1),
                _ => per_poll.push((r.time_s, u, 1)),
            }
        }
        per_poll.iter().map(|(_, s, n)| s / f64::from(*n)).collect()
    };
    let memory = summed(&rows, |r| r.memory_used_mib);
    let gpus: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.gpu.as_str()).collect();
    let (tokens, requests) = work;
    let per = |n: f64| energy_j.filter(|_| n > 0.0).map(|e| e / n);
    GpuSummary {
        gpus: gpus.len() as u32,
        samples: polled.scrapes,
        failures: polled.failures,
        window_start_s: a,
        window_s: span,
        mean_power_w: trapezoid.map(|j| j / span),
        max_power_w: power
            .iter()
            .filter(|p| in_window(p.0))
            .map(|p| p.1)
            .reduce(f64::max),
        energy_j,
        energy_from,
        output_tokens: tokens,
        requests,
        joules_per_output_token: per(tokens),
        joules_per_request: per(requests as f64),
        mean_util_pct: mean_of(util),
        mean_memory_used_mib: mean_of(
            memory
                .iter()
                .filter(|p| in_window(p.0))
                .map(|p| p.1)
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::MetricSample;

    fn poll(out: &mut Vec<MetricSample>, t: f64, gpu: &str, fields: &[(&str, f64)]) {
        for (metric, value) in fields {
            out.push(MetricSample {
                time_s: t,
                metric: metric.to_string(),
                labels: format!("gpu=\"{gpu}\",UUID=\"GPU-{gpu}\""),
                value: *value,
            });
        }
    }

    /// Two GPUs, each at 100 W rising to 300 W from t = 0 to 10 s, with counters exact for it.
    fn ramp(with_counter: bool) -> ServerMetrics {
        let mut samples = Vec::new();
        for i in 0..=10 {
            let t = f64::from(i);
            let w = 100.0 + 20.0 * t;
            // ∫(100 + 20 t) dt = 100 t + 10 t², in mJ.
            let mj = (100.0 * t + 10.0 * t * t) * 1000.0;
            for gpu in ["0", "1"] {
                let mut f = vec![
                    (dcgm::POWER, w),
                    (dcgm::UTIL, if gpu == "0" { 50.0 } else { 100.0 }),
                    (dcgm::FB_USED, 1000.0),
                ];
                if with_counter {
                    f.push((dcgm::ENERGY, 5e6 + mj));
                }
                poll(&mut samples, t, gpu, &f);
            }
        }
        ServerMetrics {
            samples,
            scrapes: 11,
            failures: 0,
        }
    }

    #[test]
    fn counter_and_trapezoid_agree_on_a_linear_ramp_and_the_counter_wins() {
        // Window [2.5, 7.5): ∫ 2 × (100 + 20 t) dt = 2 × (500 + 10 × (56.25 − 6.25)) = 2000 J.
        let s = summarize(&ramp(true), (2.5, 7.5), (400.0, 8));
        assert_eq!(s.gpus, 2);
        assert_eq!(s.energy_from, Some(EnergyFrom::Counter));
        assert!((s.energy_j.unwrap() - 2000.0).abs() < 1e-6, "{s:?}");
        assert!((s.mean_power_w.unwrap() - 400.0).abs() < 1e-9);
        assert_eq!(s.max_power_w, Some(2.0 * 240.0));
        assert!((s.joules_per_output_token.unwrap() - 5.0).abs() < 1e-6);
        assert!((s.joules_per_request.unwrap() - 250.0).abs() < 1e-6);
        assert_eq!(s.mean_util_pct, Some(75.0));
        assert_eq!(s.mean_memory_used_mib, Some(2000.0));
        let p = summarize(&ramp(false), (2.5, 7.5), (400.0, 8));
        assert_eq!(p.energy_from, Some(EnergyFrom::Power));
        assert!((p.energy_j.unwrap() - 2000.0).abs() < 1e-6);
    }

    #[test]
    fn no_polls_give_no_figures_and_no_work_gives_no_ratio() {
        let s = summarize(&ServerMetrics::default(), (1.0, 2.0), (0.0, 0));
        assert_eq!((s.gpus, s.energy_j, s.mean_power_w), (0, None, None));
        let s = summarize(&ramp(true), (1.0, 2.0), (0.0, 0));
        assert!(s.energy_j.is_some());
        assert_eq!(
            (s.joules_per_output_token, s.joules_per_request),
            (None, None)
        );
    }

    #[test]
    fn a_counter_reset_falls_back_to_the_power() {
        let mut m = ramp(true);
        for s in m.samples.iter_mut() {
            if s.metric == dcgm::ENERGY && s.time_s >= 5.0 {
                s.value = 0.0;
            }
        }
        let s = summarize(&m, (2.5, 7.5), (1.0, 1));
        assert_eq!(s.energy_from, Some(EnergyFrom::Power));
    }
}
