//! Energy and cost: what the GPU telemetry (`GPU_METRICS_URL` or `GPU_SMI`) measured in one
//! iteration's steady window ([`GpuBrief`], in `mst.json`'s iterations) and what that makes of
//! the MST ([`EnergyAtMst`], `energy` in `mst.json`, the `MST_*` energy columns of
//! `summary.csv`).

use crate::IterationBrief;
use serde::{Deserialize, Serialize};

/// One iteration's GPU figures over its steady window (`gpu` of an iteration in `mst.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuBrief {
    /// GPUs the telemetry reported.
    pub gpus: u32,
    /// Length of the steady window the figures cover, s.
    pub window_s: f64,
    /// Mean power over the window, summed over the GPUs, W.
    pub mean_power_w: Option<f64>,
    /// Energy over the window, summed over the GPUs, J.
    pub energy_j: Option<f64>,
    /// Output tokens of successful requests generated inside the window.
    pub output_tokens: f64,
}

/// The MST's energy and cost (`energy` in `mst.json`), from the iterations judged sustainable
/// at the MST rate that carry GPU figures.
///
/// With `E` their energies, `T` their windows' lengths and `N` their output tokens (summed
/// over those iterations):
/// - `power_w = E / T` (W, all GPUs);
/// - `joules_per_output_token = E / N`, `output_tokens_per_joule = N / E`;
/// - `output_tokens_s = N / T`;
/// - `cost_per_million_output_tokens = gpus × GPU_HOURLY_COST ÷ (output_tokens_s × 3600) × 10⁶`
///   (currency of `GPU_HOURLY_COST`): the GPUs' hourly cost spread over the tokens they
///   generate in an hour at the MST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyAtMst {
    /// GPUs the telemetry reported (the most any of those iterations saw).
    pub gpus: u32,
    /// Mean power at the MST, all GPUs, W.
    pub power_w: f64,
    /// Energy per output token at the MST, J.
    pub joules_per_output_token: Option<f64>,
    /// Output tokens per joule at the MST.
    pub output_tokens_per_joule: Option<f64>,
    /// Output tokens per second generated in the steady windows at the MST.
    pub output_tokens_s: f64,
    /// `GPU_HOURLY_COST`, currency per GPU-hour, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_hourly_cost: Option<f64>,
    /// Cost per million output tokens at the MST (formula above); absent without
    /// `GPU_HOURLY_COST` or without output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_million_output_tokens: Option<f64>,
}

impl EnergyAtMst {
    /// The MST's energy from the iterations judged sustainable at the level `mst_load` with GPU
    /// figures and an energy; None without such an iteration (no telemetry, no MST, or an MST
    /// no single iteration ran at, as the mean of `REPEATS`).
    pub fn at_mst(
        iterations: &[IterationBrief],
        mst_load: Option<f64>,
        gpu_hourly_cost: Option<f64>,
    ) -> Option<EnergyAtMst> {
        let mst = mst_load?;
        let at: Vec<(&GpuBrief, f64)> = iterations
            .iter()
            .filter(|b| b.sustainable == Some(true) && b.level() == mst)
            .filter_map(|b| {
                let g = b.gpu.as_ref()?;
                Some((g, g.energy_j?))
            })
            .filter(|(g, _)| g.window_s > 0.0)
            .collect();
        if at.is_empty() {
            return None;
        }
        let energy: f64 = at.iter().map(|(_, e)| e).sum();
        let window: f64 = at.iter().map(|(g, _)| g.window_s).sum();
        let tokens: f64 = at.iter().map(|(g, _)| g.output_tokens).sum();
        let gpus = at.iter().map(|(g, _)| g.gpus).max().unwrap_or(0);
        let tokens_s = tokens / window;
        let positive = |x: f64| (x.is_finite() && x > 0.0).then_some(x);
        Some(EnergyAtMst {
            gpus,
            power_w: energy / window,
            joules_per_output_token: positive(tokens).and_then(|n| positive(energy / n)),
            output_tokens_per_joule: positive(energy).and_then(|e| positive(tokens / e)),
            output_tokens_s: tokens_s,
            gpu_hourly_cost,
            cost_per_million_output_tokens: gpu_hourly_cost.and_then(|cost| {
                positive(tokens_s).map(|t| f64::from(gpus) * cost / (t * 3600.0) * 1e6)
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(req_min: f64, sustainable: bool, gpu: Option<GpuBrief>) -> IterationBrief {
        IterationBrief {
            load: None,
            iteration: 1,
            stage: 1,
            req_min,
            attempt: 1,
            sustainable: Some(sustainable),
            reason: String::new(),
            folder: String::new(),
            achieved_req_s: 0.0,
            steady_req_min: 0.0,
            succeeded: 1,
            output_tokens_p50: None,
            short_outputs: 0,
            time_s: 0.0,
            repeat: 1,
            gpu,
        }
    }

    fn gpu(energy_j: f64, window_s: f64, output_tokens: f64) -> Option<GpuBrief> {
        Some(GpuBrief {
            gpus: 2,
            window_s,
            mean_power_w: Some(energy_j / window_s),
            energy_j: Some(energy_j),
            output_tokens,
        })
    }

    #[test]
    fn the_mst_pools_its_sustainable_iterations_and_prices_an_hour_of_tokens() {
        let iterations = [
            brief(60.0, true, gpu(1000.0, 10.0, 500.0)),
            brief(60.0, true, gpu(3000.0, 30.0, 1500.0)),
            // Another rate and a failure at the MST rate are left out.
            brief(30.0, true, gpu(1.0, 10.0, 1.0)),
            brief(60.0, false, gpu(1.0, 10.0, 1.0)),
        ];
        let e = EnergyAtMst::at_mst(&iterations, Some(60.0), Some(2.5)).unwrap();
        assert_eq!(e.gpus, 2);
        assert_eq!(e.power_w, 100.0);
        assert_eq!(e.joules_per_output_token, Some(2.0));
        assert_eq!(e.output_tokens_per_joule, Some(0.5));
        assert_eq!(e.output_tokens_s, 50.0);
        // 2 GPUs × 2.5 per hour over 50 tokens/s × 3600 s = 180 000 tokens per hour.
        let cost = e.cost_per_million_output_tokens.unwrap();
        assert!((cost - 5.0 / 180_000.0 * 1e6).abs() < 1e-9, "{cost}");
        assert_eq!(
            EnergyAtMst::at_mst(&iterations, Some(60.0), None)
                .and_then(|e| e.cost_per_million_output_tokens),
            None
        );
    }

    #[test]
    fn no_telemetry_or_no_mst_gives_no_energy() {
        let iterations = [brief(60.0, true, None)];
        assert_eq!(
            EnergyAtMst::at_mst(&iterations, Some(60.0), Some(1.0)),
            None
        );
        let iterations = [brief(60.0, true, gpu(1.0, 1.0, 1.0))];
        assert_eq!(EnergyAtMst::at_mst(&iterations, None, Some(1.0)), None);
        assert_eq!(
            EnergyAtMst::at_mst(&iterations, Some(61.0), Some(1.0)),
            None
        );
    }
}
