//! The simulator's capacity in closed form, so a search result can be checked against it.
//!
//! With every request asking for `I` prompt tokens and exactly `O` output tokens
//! (`ignore_eos`), the engine (see `engine.rs`) saturates at
//!
//! ```text
//! S  = min(max_num_seqs, floor(kv_cache_tokens / (I + O)))      sequences running
//! step = f + c·S + p·I·S/O                                      model ms per step, on average
//! λ* = S / (O·(f + c·S) + p·I·S)  =  1 / (O·f/S + c·O + p·I)    requests per model ms
//! ```
//!
//! where `f = step_fixed_ms`, `c = step_per_seq_ms`, `p = step_per_prefill_token_ms`. At
//! saturation `S` sequences run, each needs `O` steps (its first token comes at the end of its
//! prefill step), so `S/O` finish per step on average and `S·I/O` prompt tokens are prefilled
//! per step. Wall-clock capacity is `λ*·1000·time_scale` requests per second; output tokens per
//! second are that times `O`. If a single request does not fit (`S = 0`) the capacity is zero.

use super::EngineConfig;

/// The analytic capacity of an engine for one request shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Sequences running at saturation (`S`).
    pub seqs_effective: u32,
    /// Mean step duration at saturation, model milliseconds.
    pub step_ms_at_capacity: f64,
    /// Maximum sustainable requests per wall-clock second (after `time_scale`).
    pub req_per_s: f64,
    /// The same per minute.
    pub req_per_min: f64,
    /// Output tokens per wall-clock second at capacity.
    pub output_tokens_per_s: f64,
}

/// The capacity of `cfg` for requests of `input_tokens` prompt and `output_tokens` output tokens.
pub fn capacity(cfg: &EngineConfig, input_tokens: u32, output_tokens: u32) -> Capacity {
    let i = f64::from(input_tokens);
    let o = f64::from(output_tokens.max(1));
    let per_request = u64::from(input_tokens) + u64::from(output_tokens.max(1));
    let by_kv = cfg.kv_cache_tokens / per_request;
    let s = u64::from(cfg.max_num_seqs).min(by_kv) as u32;
    if s == 0 {
        return Capacity {
            seqs_effective: 0,
            step_ms_at_capacity: cfg.step_fixed_ms,
            req_per_s: 0.0,
            req_per_min: 0.0,
            output_tokens_per_s: 0.0,
        };
    }
    let sf = f64::from(s);
    let step =
        cfg.step_fixed_ms + cfg.step_per_seq_ms * sf + cfg.step_per_prefill_token_ms * i * sf / o;
    let per_model_ms = sf
        / (o * (cfg.step_fixed_ms + cfg.step_per_seq_ms * sf)
            + cfg.step_per_prefill_token_ms * i * sf);
    let req_per_s = per_model_ms * 1000.0 * cfg.time_scale;
    Capacity {
        seqs_effective: s,
        step_ms_at_capacity: step,
        req_per_s,
        req_per_min: req_per_s * 60.0,
        output_tokens_per_s: req_per_s * o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Core;

    /// Runs the engine's state machine in virtual time with an endless backlog and returns
    /// completed requests per model millisecond after a warm-up.
    fn simulated_rate(cfg: &EngineConfig, input: u32, output: u32) -> f64 {
        let mut core: Core<()> = Core::new(cfg.max_num_seqs, cfg.kv_cache_tokens);
        let (mut t, mut done) = (0.0f64, 0u64);
        let (mut t_warm, mut done_warm) = (0.0, 0);
        for step in 0..60_000 {
            while core.waiting_len() < 2 * cfg.max_num_seqs as usize {
                core.push(input, output, output, ());
            }
            let admitted = core.admit(|_| false);
            t += core.step_ms(cfg, admitted.prompt_tokens);
            done += core.end_step(|_, _| true).finished();
            if step == 10_000 {
                (t_warm, done_warm) = (t, done);
            }
        }
        (done - done_warm) as f64 / (t - t_warm)
    }

    #[test]
    fn discrete_simulation_at_saturation_matches_the_formula() {
        let shapes = [
            (EngineConfig::default(), 512, 128),
            (
                EngineConfig {
                    max_num_seqs: 16,
                    ..EngineConfig::default()
                },
                100,
                50,
            ),
            (
                EngineConfig {
                    kv_cache_tokens: 20_000,
                    ..EngineConfig::default()
                },
                2000,
                300,
            ),
            (
                EngineConfig {
                    step_per_prefill_token_ms: 0.5,
                    ..EngineConfig::default()
                },
                64,
                7,
            ),
        ];
        for (cfg, i, o) in shapes {
            let expected = capacity(&cfg, i, o).req_per_s / 1000.0;
            let got = simulated_rate(&cfg, i, o);
            let err = (got - expected).abs() / expected;
            assert!(
                err < 0.02,
                "I={i} O={o}: simulated {got} vs formula {expected} ({err:.4})"
            );
        }
    }

    #[test]
    fn formula_values_for_the_defaults() {
        let c = capacity(&EngineConfig::default(), 1000, 100);
        // KV limits: 200000 / 1100 = 181 sequences.
        assert_eq!(c.seqs_effective, 181);
        let expected = 1.0 / (100.0 * 8.0 / 181.0 + 0.1 * 100.0 + 0.02 * 1000.0) * 1000.0;
        assert!((c.req_per_s - expected).abs() < 1e-9);
        assert!((c.req_per_min - expected * 60.0).abs() < 1e-6);
        assert!((c.output_tokens_per_s - expected * 100.0).abs() < 1e-6);
        let fast = capacity(
            &EngineConfig {
                time_scale: 10.0,
                ..EngineConfig::default()
            },
            1000,
            100,
        );
        assert!((fast.req_per_s - 10.0 * expected).abs() < 1e-6);
        assert_eq!(
            capacity(&EngineConfig::default(), 300_000, 1).seqs_effective,
            0
        );
    }
}
