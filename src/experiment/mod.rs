//! The driver: for each size in `TOKENS_LIST` (or the one `SIZE_INDEX` names), in order, run
//! the search — ask the state machine for a rate, run an iteration at it, judge it, write its
//! files, feed the verdict back and checkpoint it — then write the size's outcome (`mst.json`)
//! and rebuild `summary.csv`. All I/O of a run lives here and in the modules it calls; the
//! search itself stays pure.
//!
//! A run first locks the folders of its sizes (a second run of the same sizes does nothing and
//! exits 0), then continues every size from its `state.json` (see [`state`]) unless told to
//! start [`Start::Fresh`].

pub mod answer;
pub mod console;
pub mod events;
mod preflight;
pub mod settle;
pub mod state;

use crate::client::OpenAiClient;
use crate::config::Config;
use crate::error::Warning;
use crate::error::{Error, Result};
use crate::evaluate::judge;
use crate::evaluate::{self, Evaluator, PastIteration};
use crate::iteration::Completion;
use crate::load::runner::{IterationPlan, Progress, iteration_seed, run_iteration};
use crate::metrics::IterationSummary;
use crate::output::{self, IterationBrief, IterationFiles, SizeOutcome};
use crate::record::RequestRecord;
use crate::search::{Observation, SearchConfig, SearchOutcome, Step};
use crate::size::SizeSpec;
use crate::telemetry::GpuIteration;
use crate::workload::Workload;
use events::{Event, Observer};
use state::{Checkpoint, RunStamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How the run talks to the person watching.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// No per-iteration lines or progress; only the final table.
    pub quiet: bool,
}

/// Whether a run continues the checkpoints it finds or starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// Continue every size from its `state.json` (finished sizes are skipped).
    #[default]
    Resume,
    /// Move the sizes' old folders into `<output_dir>/previous/<time>/` and start over.
    Fresh,
}

/// What a whole run produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One outcome per size, in `TOKENS_LIST` order.
    pub outcomes: Vec<SizeOutcome>,
    /// Non-fatal remarks made during the run.
    pub warnings: Vec<Warning>,
}

impl RunReport {
    /// True when some size's search stopped without an answer it could stand behind
    /// (server unusable, or the client was the limit): exit code 1.
    pub fn incomplete(&self) -> bool {
        self.outcomes.iter().any(|o| o.stop.is_incomplete())
    }
}

/// How long the server gets to answer `/v1/models` before the run gives up.
const PROBE_WITHIN: Duration = Duration::from_secs(5);

/// Run the whole experiment, resuming from any checkpoints. `interrupt` (signals) stops it
/// between or inside iterations, with the state saved.
pub async fn run(cfg: Config, opts: RunOptions, interrupt: CancellationToken) -> Result<RunReport> {
    run_with(cfg, opts, Start::Resume, interrupt).await
}

/// [`run`], choosing whether to resume or start over; the console shows what happens.
pub async fn run_with(
    cfg: Config,
    opts: RunOptions,
    start: Start,
    interrupt: CancellationToken,
) -> Result<RunReport> {
    let console = events::Console::new(opts.quiet, cfg.load_unit());
    run_observed(cfg, start, &console, interrupt).await
}

/// [`run_with`], telling `observer` what happens instead of printing.
pub async fn run_observed(
    cfg: Config,
    start: Start,
    observer: &dyn Observer,
    interrupt: CancellationToken,
) -> Result<RunReport> {
    let evaluator = evaluate::build(cfg.success_rate_pct, &cfg.evaluators);
    let ready = preflight::prepare(&cfg, start).await?;
    let preflight::Ready {
        client,
        model,
        workload,
        warnings,
        selected,
        moved_previous,
        locks: _locks,
    } = ready;
    if !workload.exact() {
        observer.event(&Event::LengthsApproximate {
            note: &workload.lengths_note(),
        });
    }
    if let Some(to) = &moved_previous {
        observer.event(&Event::MovedPrevious { to });
    }
    observer.event(&Event::RunStarted {
        url: &cfg.url,
        model: &model,
        sizes: selected.len(),
        duration: cfg.duration,
        evaluators: &cfg.evaluator_names().join(","),
    });

    let settler = match selected.first() {
        Some((_, size)) => tokio::select! {
            s = settle::Settler::start(
                cfg.settle_timeout,
                cfg.scrape.url.as_deref(),
                client.clone(),
                workload.clone(),
                *size,
            ) => Some(s),
            _ = interrupt.cancelled() => {
                return Err(Error::Interrupted {
                    signal: "a signal while measuring the idle server".into(),
                });
            }
        },
        None => None,
    };
    let ctx = Driver {
        cfg: &cfg,
        client,
        settler,
        workload,
        evaluator: evaluator.as_ref(),
        model,
        observer,
        interrupt: &interrupt,
    };
    let mut outcomes = Vec::new();
    for (index, size) in selected {
        let outcome = ctx.search_size(index, size).await?;
        output::write_size_outcome(&cfg.output_dir, &size.dir_name(), &outcome)?;
        output::write_summary(&cfg.output_dir)?;
        observer.event(&Event::SizeFinished { outcome: &outcome });
        if cfg.telemetry.hourly_cost.is_some()
            && outcome.mst_load.is_some()
            && outcome.energy.is_none()
        {
            tracing::warn!(
                "{}: GPU_HOURLY_COST is set but no cost per million tokens was written: no \
                 iteration judged sustainable at the MST has GPU telemetry with an energy (the \
                 GPU source did not answer then)",
                outcome.size
            );
        }
        outcomes.push(outcome);
    }
    observer.event(&Event::RunFinished {
        outcomes: &outcomes,
    });
    Ok(RunReport { outcomes, warnings })
}

/// What is searched, in order: each `TOKENS_LIST` entry, or with `ADDITIVE` one mixed search
/// whose size spans all entries (its folder is named after that span; each request's class is
/// drawn by the workload). The index picks the start rate and seeds the iterations.
pub fn search_units(cfg: &Config) -> Vec<(usize, SizeSpec)> {
    if !cfg.additive {
        return cfg.sizes.iter().copied().enumerate().collect();
    }
    let span = |f: fn(&SizeSpec) -> crate::size::TokenRange| crate::size::TokenRange {
        min: cfg.sizes.iter().map(|s| f(s).min).min().unwrap_or(1),
        max: cfg.sizes.iter().map(|s| f(s).max).max().unwrap_or(1),
    };
    vec![(
        0,
        SizeSpec {
            input: span(|s| s.input),
            output: span(|s| s.output),
        },
    )]
}

struct Driver<'a> {
    cfg: &'a Config,
    client: Arc<OpenAiClient>,
    /// Waits for an idle server before each iteration (None only when no size is selected).
    settler: Option<settle::Settler>,
    workload: Arc<Workload>,
    evaluator: &'a dyn Evaluator,
    model: String,
    observer: &'a dyn Observer,
    interrupt: &'a CancellationToken,
}

impl Driver<'_> {
    async fn search_size(&self, index: usize, size: SizeSpec) -> Result<SizeOutcome> {
        let cfg = self.cfg;
        let mut cp = self.open_checkpoint(index, size)?;
        let mut warned_short = false;
        // What each iteration holds the server for: from the end of the previous one (so its
        // cooldown and the next settle count) to its files written.
        let mut since = Instant::now();
        let outcome: SearchOutcome = loop {
            let step = cp.state.search.current();
            if self.interrupt.is_cancelled() && !matches!(step, Step::Done(_)) {
                return Err(Error::Interrupted {
                    signal: "a signal before the next iteration".into(),
                });
            }
            let run = match step {
                Step::Done(outcome) => {
                    let repeat = cp.repeat();
                    if cp.next_repeat(&outcome, cfg.repeats)? {
                        self.observer.event(&Event::RepeatFinished {
                            size,
                            repeat,
                            of: cfg.repeats,
                            outcome: &outcome,
                        });
                        continue;
                    }
                    break outcome;
                }
                Step::Run(run) => run,
                Step::Probe => {
                    self.probe(&mut cp, index, size, since).await?;
                    // The probe's time is checkpointed and added to the next iteration's.
                    since = Instant::now();
                    continue;
                }
            };
            // Numbered over all repeats, so every iteration has its own seed and folder.
            let iteration = cp.state.iterations.len() as u32 + 1;
            let plan = IterationPlan {
                labels: self.labels(),
                // Only where the search put the rate far below its capacity estimate; near the
                // bracket every iteration runs its full DURATION.
                early_accept: (run.accept_early && cfg.evaluator_settings.early_accept.enabled)
                    .then_some(cfg.evaluator_settings.early_accept),
                ..cfg.iteration_plan(
                    size,
                    run.req_min,
                    run.stage,
                    iteration,
                    iteration_seed(cfg.seed, index, iteration),
                    &self.model,
                )
            };
            // Settle first, so the progress clock starts with the iteration, not before a wait.
            let settled = self.settle().await?;
            let progress = Arc::new(Progress::default());
            self.observer.event(&Event::IterationRunning {
                size,
                iteration,
                req_min: run.req_min,
                duration: cfg.duration,
                progress: progress.clone(),
            });
            let scraper = crate::scrape::Scraper::start(&cfg.scrape);
            let gpu_poller = crate::telemetry::start(&cfg.telemetry, cfg.scrape.interval);
            let (mut meta, mut records) = run_iteration(
                self.client.clone(),
                self.workload.clone(),
                &plan,
                self.interrupt,
                progress,
            )
            .await;
            self.observer.event(&Event::IterationSent);
            meta.settle = settled;
            if let Some(settler) = &self.settler {
                settler.after(&records);
            }
            self.workload.recount_outputs(&mut records).await;
            let server = match scraper {
                Some(s) => Some(s.finish(meta.started_at).await),
                None => None,
            };
            let gpu = match gpu_poller {
                Some(p) => Some(GpuIteration::new(
                    p.finish(meta.started_at).await,
                    &meta,
                    &records,
                )),
                None => None,
            };
            // Earlier judged iterations of this size, from the checkpoint so a resumed search
            // sees them too (plateau compares with them); outages are no measurement.
            let history: Vec<PastIteration> = cp
                .state
                .iterations
                .iter()
                .filter(|b| b.sustainable.is_some())
                .map(|b| PastIteration {
                    req_min: b.level(),
                    achieved_req_min: b.steady_req_min,
                })
                .collect();
            let judged = judge::judge(
                &judge::Context {
                    evaluator: self.evaluator,
                    client_lag_limit_ms: cfg.client_lag_limit_ms,
                    history: &history,
                    server_alive: self.server_alive(&records).await,
                },
                &meta,
                &records,
            );
            warn_about_measurement(&judged.summary);
            if !warned_short {
                warned_short = warn_short_outputs(size, &judged.summary);
            }
            let folder = output::write_iteration(
                &cfg.output_dir,
                &IterationFiles {
                    meta: &meta,
                    records: &records,
                    summary: &judged.summary,
                    verdict: &judged.verdict,
                    halves: &judged.halves,
                    judgement: judged.judgement(),
                    server: server.as_ref(),
                    gpu: gpu.as_ref(),
                },
            )?;
            if let Completion::Interrupted(why) = &meta.completion {
                let aside = cp.set_aside_interrupted(&folder, iteration, run.req_min, why)?;
                return Err(Error::Interrupted {
                    signal: format!(
                        "a signal ({why}); the partial iteration is kept aside in {} and runs \
                         again when the same command is repeated",
                        aside.display()
                    ),
                });
            }
            self.observer.event(&Event::IterationJudged {
                meta: &meta,
                attempt: run.attempt,
                line: console::iteration_line(&meta, run.attempt, &judged),
            });
            // Outside open-loop rates the level is users, sessions or a trace scale, and the
            // brief's request rate is what was sent.
            let rate_search = plan.unit == crate::search::LoadUnit::ReqMin;
            let brief = IterationBrief {
                iteration,
                stage: run.stage.number(),
                req_min: meta.sent_req_min(records.len() as u64),
                load: (!rate_search).then_some(run.req_min),
                attempt: run.attempt,
                sustainable: judged.observation.verdict(),
                reason: judged.verdict.reason.clone(),
                folder: folder
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                achieved_req_s: judged.summary.req_per_s,
                succeeded: judged.summary.succeeded,
                output_tokens_p50: judged.summary.median_response_tokens,
                short_outputs: judged.summary.short_outputs,
                time_s: since.elapsed().as_secs_f64(),
                repeat: cp.repeat(),
                steady_req_min: evaluate::plateau::achieved_req_min(&meta, &records),
                gpu: gpu.as_ref().and_then(GpuIteration::brief),
            };
            let was_outage = matches!(judged.observation, Observation::Outage { .. });
            // The capacity estimate compares completions with an offered rate, which other
            // load modes do not offer.
            let throughput = rate_search
                .then(|| crate::load::saturation::iteration_throughput(&meta, &records))
                .flatten();
            let next = cp.record(brief, judged.observation, throughput)?;
            since = Instant::now();
            if was_outage && matches!(next, Step::Run(_)) {
                self.wait_for_server().await?;
            }
            if matches!(next, Step::Run(_)) && !cfg.cooldown.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(cfg.cooldown) => {}
                    _ = self.interrupt.cancelled() => {
                        return Err(Error::Interrupted { signal: "a signal during the cooldown".into() });
                    }
                }
            }
        };
        cp.finish()?;
        Ok(answer::size_outcome(cfg, size, &self.model, &cp, &outcome))
    }

    /// The saturation probe the search asked for (see [`crate::load::saturation`]), after the
    /// server has settled; its result is checkpointed, so a resumed search does not probe again.
    /// The time since `since` (the settle wait and the probe) is checkpointed with it.
    async fn probe(
        &self,
        cp: &mut Checkpoint,
        index: usize,
        size: SizeSpec,
        since: Instant,
    ) -> Result<()> {
        let Some(settings) = self.cfg.probe else {
            // The search asks only when the configuration set a probe; without one it learns
            // that nothing was measured and goes on from REQ_MIN_START.
            cp.record_probe(None, 0.0)?;
            return Ok(());
        };
        self.settle().await?;
        if let Some(settler) = &self.settler {
            settler.before_probe().await;
        }
        self.observer.event(&Event::ProbeRunning {
            size,
            concurrency: settings.concurrency,
            duration: settings.duration,
        });
        let report = crate::load::saturation::run(
            self.client.clone(),
            self.workload.clone(),
            size,
            settings,
            // Iteration numbers start at 1, so 0 and below are free for the probes.
            iteration_seed(self.cfg.seed, index, 0u32.wrapping_sub(cp.repeat())),
            self.interrupt,
        )
        .await;
        if self.interrupt.is_cancelled() {
            return Err(Error::Interrupted {
                signal: "a signal during the saturation probe; it runs again when the same \
                         command is repeated"
                    .into(),
            });
        }
        if let Some(settler) = &self.settler {
            settler.after_probe();
        }
        let next = cp.record_probe(report.throughput, since.elapsed().as_secs_f64())?;
        self.observer.event(&Event::ProbeDone {
            size,
            report: &report,
            next_req_min: match next {
                Step::Run(run) => Some(run.req_min),
                _ => None,
            },
        });
        Ok(())
    }

    /// Wait for an idle server before an iteration (see [`settle`]); a signal stops the wait.
    async fn settle(&self) -> Result<Option<crate::iteration::Settled>> {
        let Some(settler) = &self.settler else {
            return Ok(None);
        };
        tokio::select! {
            s = settler.settle() => Ok(Some(s)),
            _ = self.interrupt.cancelled() => Err(Error::Interrupted {
                signal: "a signal while waiting for the server to settle".into(),
            }),
        }
    }

    /// Whether the server was alive during an iteration: some request got an HTTP answer, or
    /// (when none did) `/v1/models` answers now. Refused connections need no probe: the
    /// iteration is an outage whatever it says.
    async fn server_alive(&self, records: &[RequestRecord]) -> bool {
        if records.iter().any(|r| r.http_status.is_some()) {
            return true;
        }
        let refused = records
            .iter()
            .any(|r| r.error == Some(crate::record::ErrorKind::Connect));
        !records.is_empty() && !refused && self.client.probe(PROBE_WITHIN).await.is_ok()
    }

    /// After an outage: ask `/v1/models` until the server answers or `OUTAGE_WAIT` runs out.
    /// Either way the search goes on; a server still down makes the next iteration an outage
    /// too, and `RETRY_ON_OUTAGE` bounds how often that may happen.
    async fn wait_for_server(&self) -> Result<()> {
        let started = Instant::now();
        let within = self.cfg.outage_wait.max(Duration::from_millis(100));
        let answered = tokio::select! {
            r = self.client.probe(within) => r,
            _ = self.interrupt.cancelled() => {
                return Err(Error::Interrupted { signal: "a signal while waiting for the server".into() });
            }
        };
        match answered {
            Ok(_) => tracing::info!(
                "after the outage the server answered within {:.1} s",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => tracing::warn!("{e}; running the iteration anyway (OUTAGE_WAIT has passed)"),
        }
        Ok(())
    }

    /// The size's checkpoint, new or resumed, with a line saying which.
    fn open_checkpoint(&self, index: usize, size: SizeSpec) -> Result<Checkpoint> {
        let cfg = self.cfg;
        let search = SearchConfig {
            start_req_min: cfg.start_req_min(index),
            multiplier: cfg.multiplier,
            threshold: cfg.threshold,
            confirm: cfg.confirm,
            max_iterations: cfg.max_iterations,
            min_req_min: cfg.req_min_floor,
            outage_retries: cfg.retry_on_outage,
            strategy: cfg.search,
            probe: cfg.probe.is_some(),
            ci_stop_width: cfg.ci_stop_width,
            unit: cfg.load_unit(),
        };
        let (cp, opened) = Checkpoint::open(
            &cfg.output_dir.join(size.dir_name()),
            &size.to_string(),
            state::settings(cfg, index, &self.model),
            search,
            RunStamp::now(cfg),
        )?;
        let next_req_min = match cp.state.search.current() {
            Step::Run(next) => Some(next.req_min),
            Step::Probe | Step::Done(_) => None,
        };
        self.observer.event(&Event::SizeOpened {
            size,
            opened: &opened,
            done: cp.state.iterations.len(),
            next_req_min,
        });
        Ok(cp)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.cfg.metadata.clone();
        if let Some(job) = &self.cfg.job_id {
            labels.insert("JOB_ID".into(), job.clone());
        }
        labels
    }
}

/// Responses that were measured less precisely than asked: said once per iteration, and
/// counted in results.csv (`NOT_STREAMED`, `USAGE_MISSING`).
fn warn_about_measurement(s: &IterationSummary) {
    if s.not_streamed > 0 {
        tracing::warn!(
            "{} of {} successful requests were answered without streaming: their TTFT equals the end-to-end latency",
            s.not_streamed,
            s.succeeded
        );
    }
    if s.output_tokens_approx > 0 {
        tracing::warn!(
            "{} of {} successful requests carried no usage and could not be tokenized (no \
             tokenize endpoint, no TOKENIZER): output tokens were counted one per generated \
             delta, a lower bound when chunks carry several tokens (OUTPUT_TOKENS_APPROX)",
            s.output_tokens_approx,
            s.succeeded
        );
    } else if s.usage_missing > 0 {
        tracing::info!(
            "{} of {} successful requests carried no usage; their output tokens were counted \
             from the finish reason or the tokenizer (output_tokens_from)",
            s.usage_missing,
            s.succeeded
        );
    }
}

/// Said once per size: answers shorter than requested mean the server ignores
/// `ignore_eos`/`min_tokens`, so the MST is measured at the lengths actually generated
/// (`generated_output_tokens_p50` in mst.json). Returns whether it warned.
fn warn_short_outputs(size: SizeSpec, s: &IterationSummary) -> bool {
    if s.short_outputs == 0 {
        return false;
    }
    tracing::warn!(
        "{size}: {} of {} successful requests generated fewer output tokens than requested \
         (median {} generated): the server ignores ignore_eos/min_tokens or stops early, so this \
         size is measured at shorter outputs than {size} says (SHORT_OUTPUTS per iteration, \
         generated_output_tokens_p50 next to the MST)",
        s.short_outputs,
        s.succeeded,
        console::opt(s.median_response_tokens, 0)
    );
    true
}
