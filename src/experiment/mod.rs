//! The driver: for each size in `TOKENS_LIST` (or the one `SIZE_INDEX` names), in order, run
//! the search — ask the state machine for a rate, run an iteration at it, judge it, write its
//! files, feed the verdict back and checkpoint it — then write the size's outcome (`mst.json`)
//! and rebuild `summary.csv`. All I/O of a run lives here and in the modules it calls; the
//! search itself stays pure.
//!
//! A run first locks the folders of its sizes (a second run of the same sizes does nothing and
//! exits 0), then continues every size from its `state.json` (see [`state`]) unless told to
//! start [`Start::Fresh`].

pub mod console;
pub mod state;

use crate::client::{ClientConfig, OpenAiClient};
use crate::config::{Config, SizeSpec, Warning};
use crate::error::{Error, Result};
use crate::evaluate::{self, EvalInput, Evaluator, Verdict};
use crate::load::iteration::{Completion, IterationMeta};
use crate::load::record::RequestRecord;
use crate::load::runner::{IterationPlan, Progress, iteration_seed, run_iteration};
use crate::metrics::{self, IterationSummary};
use crate::output::{self, IterationBrief, IterationFiles, SizeOutcome};
use crate::search::{Observation, SearchConfig, SearchOutcome, Step};
use crate::workload::Workload;
use state::{Checkpoint, Opened, RunStamp};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
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
    /// (server unusable): exit code 1.
    pub fn incomplete(&self) -> bool {
        self.outcomes.iter().any(|o| o.stop == "unusable")
    }
}

/// How long the server gets to answer `/v1/models` before the run gives up.
const PROBE_WITHIN: Duration = Duration::from_secs(5);

/// Run the whole experiment, resuming from any checkpoints. `interrupt` (signals) stops it
/// between or inside iterations, with the state saved.
pub async fn run(cfg: Config, opts: RunOptions, interrupt: CancellationToken) -> Result<RunReport> {
    run_with(cfg, opts, Start::Resume, interrupt).await
}

/// [`run`], choosing whether to resume or start over.
pub async fn run_with(
    cfg: Config,
    opts: RunOptions,
    start: Start,
    interrupt: CancellationToken,
) -> Result<RunReport> {
    // Everything that can be wrong with the configuration is found before any traffic.
    let evaluator = evaluate::build(&cfg)?;
    refuse_unimplemented(&cfg)?;
    let selected: Vec<(usize, SizeSpec)> = match cfg.size_index {
        Some(i) => cfg.sizes.get(i).map(|s| vec![(i, *s)]).unwrap_or_default(),
        None => cfg.sizes.iter().copied().enumerate().collect(),
    };
    let mut client_cfg = ClientConfig {
        base_url: cfg.url.clone(),
        api: cfg.api,
        api_key: cfg.api_key.clone(),
        model: cfg.model.clone().unwrap_or_default(),
        request_timeout: cfg.request_timeout,
        ttft_timeout: cfg.ttft_timeout,
        tpot_timeout: cfg.tpot_timeout,
    };
    let info = OpenAiClient::new(client_cfg.clone())?
        .probe(PROBE_WITHIN)
        .await?;
    if client_cfg.model.is_empty() {
        client_cfg.model = info
            .models
            .first()
            .cloned()
            .ok_or_else(|| Error::MissingKey {
                key: "MODEL".into(),
                hint: format!(
                    "{}/v1/models lists no model; set MODEL to the served model's name",
                    cfg.url
                ),
            })?;
    }
    let client = Arc::new(OpenAiClient::new(client_cfg.clone())?);
    let (workload, warnings) = Workload::prepare(&client, &cfg).await?;
    for w in &warnings {
        tracing::warn!("{}", w.0);
    }
    let workload = Arc::new(workload);
    std::fs::create_dir_all(&cfg.output_dir).map_err(|e| Error::Output {
        path: cfg.output_dir.clone(),
        reason: e.to_string(),
    })?;
    // Held until the run ends; taken before any load is sent, so a second run sends none.
    let _locks = lock_sizes(&cfg.output_dir, &selected)?;
    if start == Start::Fresh {
        let names: Vec<String> = selected.iter().map(|(_, s)| s.dir_name()).collect();
        if let Some(to) = state::move_previous(&cfg.output_dir, &names)? {
            println!("--fresh: moved the old results into {}", to.display());
        }
    }
    if !opts.quiet {
        println!(
            "mst-search: {} model {} ({} sizes, {} s iterations, evaluator {})",
            cfg.url,
            client_cfg.model,
            selected.len(),
            cfg.duration.as_secs_f64(),
            cfg.evaluators.join(",")
        );
    }

    let ctx = Driver {
        cfg: &cfg,
        client,
        workload,
        evaluator: evaluator.as_ref(),
        model: client_cfg.model.clone(),
        opts,
        interrupt: &interrupt,
    };
    let mut outcomes = Vec::new();
    for (index, size) in selected {
        let outcome = ctx.search_size(index, size).await?;
        output::write_size_outcome(&cfg.output_dir, &size.dir_name(), &outcome)?;
        output::write_summary(&cfg.output_dir)?;
        if !opts.quiet {
            println!(
                "{}: MST {} req/min ({} req/s) after {} iterations: {}",
                outcome.size,
                console::opt(outcome.mst_req_min, 1),
                console::opt(outcome.mst_req_s, 2),
                outcome.iterations.len(),
                outcome.reason
            );
        }
        outcomes.push(outcome);
    }
    print!("{}", console::table(&outcomes));
    Ok(RunReport { outcomes, warnings })
}

/// Lock every selected size's folder (`<output_dir>/.<in>_<out>.lock`), so array tasks of
/// different sizes run side by side while two runs of one size never do.
fn lock_sizes(
    output_dir: &Path,
    selected: &[(usize, SizeSpec)],
) -> Result<Vec<crate::lock::DirLock>> {
    let mut locks = Vec::new();
    for (_, size) in selected {
        let path = output_dir.join(format!(".{}.lock", size.dir_name()));
        let failed = |e: std::io::Error| Error::Output {
            path: path.clone(),
            reason: format!("cannot take the lock: {e}"),
        };
        match crate::lock::try_lock(&path).map_err(failed)? {
            crate::lock::Acquired::Locked { lock, stale } => {
                if let Some(old) = stale {
                    tracing::warn!(
                        "took over the lock {} left by {old}, which is no longer running",
                        path.display()
                    );
                }
                locks.push(lock);
            }
            crate::lock::Acquired::Held(holder) => {
                return Err(Error::AlreadyRunning {
                    path,
                    holder: holder.to_string(),
                });
            }
        }
    }
    Ok(locks)
}

/// Keys that are read and validated but whose feature is not built yet: refusing them beats
/// silently measuring something else than what was asked.
fn refuse_unimplemented(cfg: &Config) -> Result<()> {
    if cfg.additive {
        return Err(Error::config(
            "ADDITIVE",
            "TRUE",
            "FALSE: mixed searches are not implemented yet (planned with the workloads issue)",
        ));
    }
    if let Some(path) = &cfg.prompts_file {
        return Err(Error::config(
            "PROMPTS_FILE",
            path.display().to_string(),
            "unset: dataset replay is not implemented yet (planned with the workloads issue)",
        ));
    }
    if cfg.experiment_type == crate::config::ExperimentType::Mit {
        return Err(Error::config(
            "EXPERIMENT_TYPE",
            "MIT",
            "MST: the MIT (throughput plateau) mode is not implemented yet (planned with the evaluators issue)",
        ));
    }
    Ok(())
}

struct Driver<'a> {
    cfg: &'a Config,
    client: Arc<OpenAiClient>,
    workload: Arc<Workload>,
    evaluator: &'a dyn Evaluator,
    model: String,
    opts: RunOptions,
    interrupt: &'a CancellationToken,
}

impl Driver<'_> {
    async fn search_size(&self, index: usize, size: SizeSpec) -> Result<SizeOutcome> {
        let cfg = self.cfg;
        let mut cp = self.open_checkpoint(index, size)?;
        let outcome: SearchOutcome = loop {
            let run = match cp.state.search.current() {
                Step::Done(outcome) => break outcome,
                Step::Run(run) => run,
            };
            if self.interrupt.is_cancelled() {
                return Err(Error::Interrupted {
                    signal: "a signal before the next iteration".into(),
                });
            }
            let iteration = cp.state.search.history().len() as u32 + 1;
            let plan = IterationPlan {
                size,
                req_min: run.req_min,
                stage: run.stage,
                iteration,
                duration: cfg.duration,
                filter_buffer: cfg.filter_buffer,
                drain_timeout: cfg.drain_timeout,
                arrival: cfg.arrival,
                seed: iteration_seed(cfg.seed, index, iteration),
                model: self.model.clone(),
                labels: self.labels(),
            };
            let progress = Arc::new(Progress::default());
            let live = console::LiveProgress::start(
                format!("{size} #{iteration} {:.1} req/min", run.req_min),
                cfg.duration,
                progress.clone(),
                self.opts.quiet,
            );
            let (meta, records) = run_iteration(
                self.client.clone(),
                self.workload.clone(),
                &plan,
                self.interrupt,
                progress,
            )
            .await;
            drop(live);
            let judged = self.judge(&meta, &records);
            let folder = output::write_iteration(
                &cfg.output_dir,
                &IterationFiles {
                    meta: &meta,
                    records: &records,
                    summary: &judged.summary,
                    verdict: &judged.verdict,
                    halves: &judged.halves,
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
            if !self.opts.quiet {
                println!("{}", iteration_line(&meta, run.attempt, &judged));
            }
            let brief = IterationBrief {
                iteration,
                stage: run.stage.number(),
                req_min: run.req_min,
                attempt: run.attempt,
                sustainable: match judged.observation {
                    Observation::Unusable { .. } => None,
                    _ => Some(judged.verdict.sustainable),
                },
                reason: judged.verdict.reason.clone(),
                folder: folder
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                achieved_req_s: judged.summary.req_per_s,
            };
            let next = cp.record(brief, judged.observation)?;
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
        let st = &cp.state;
        Ok(SizeOutcome {
            size: size.to_string(),
            input_tokens: size.input.to_string(),
            output_tokens: size.output.to_string(),
            model: self.model.clone(),
            mst_req_min: outcome.mst_req_min,
            mst_req_s: outcome.mst_req_min.map(|r| r / 60.0),
            lower_req_min: outcome.lower_req_min,
            upper_req_min: outcome.upper_req_min,
            stop: stop_name(&outcome).into(),
            reason: outcome.reason.clone(),
            iterations: st.iterations.clone(),
            started_at: st.started_at.clone(),
            finished_at: st.finished_at.clone().unwrap_or_default(),
            wall_time_s: cp.wall_time_s(),
            job_id: cfg.job_id.clone(),
            evaluators: cfg.evaluators.clone(),
        })
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
        };
        let (cp, opened) = Checkpoint::open(
            &cfg.output_dir.join(size.dir_name()),
            &size.to_string(),
            state::settings(cfg, index, &self.model),
            search,
            RunStamp::now(cfg),
        )?;
        let done = cp.state.iterations.len();
        let line = match (opened, cp.state.search.current()) {
            (Opened::New, _) => None,
            (Opened::Finished, _) => Some(format!(
                "{size}: already finished after {done} iterations (state.json); skipped"
            )),
            (Opened::Resumed, Step::Run(next)) => Some(format!(
                "{size}: resuming from state.json after {done} iterations; next {} req/min",
                next.req_min
            )),
            (Opened::Resumed, Step::Done(_)) => None,
        };
        if let Some(line) = line.filter(|_| !self.opts.quiet) {
            println!("{line}");
        }
        Ok(cp)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.cfg.metadata.clone();
        if let Some(job) = &self.cfg.job_id {
            labels.insert("JOB_ID".into(), job.clone());
        }
        labels
    }

    /// Summary, halves and verdict of one iteration. An iteration in which every request failed
    /// says nothing about capacity: it is `Unusable` and stops the size's search.
    fn judge(&self, meta: &IterationMeta, records: &[RequestRecord]) -> Judged {
        let summary = metrics::summarize(meta, records);
        let halves = metrics::halves(records, meta.filter_buffer);
        let all_failed = !records.is_empty() && records.iter().all(|r| !r.success());
        let (verdict, observation) = if all_failed {
            let reason = format!(
                "every one of the {} requests failed ({}); this says nothing about capacity",
                records.len(),
                error_breakdown(&summary)
            );
            (
                Verdict {
                    sustainable: false,
                    criteria: Vec::new(),
                    reason: reason.clone(),
                },
                Observation::Unusable { reason },
            )
        } else {
            let verdict = self.evaluator.evaluate(&EvalInput {
                meta,
                records,
                summary: &summary,
            });
            let obs = if verdict.sustainable {
                Observation::Sustainable
            } else {
                Observation::Unsustainable
            };
            (verdict, obs)
        };
        Judged {
            summary,
            halves,
            verdict,
            observation,
        }
    }
}

struct Judged {
    summary: IterationSummary,
    halves: metrics::Halves,
    verdict: Verdict,
    observation: Observation,
}

fn error_breakdown(summary: &IterationSummary) -> String {
    let parts: Vec<String> = summary
        .errors_by_kind
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    parts.join(", ")
}

fn stop_name(outcome: &SearchOutcome) -> &'static str {
    use crate::search::StopKind;
    match outcome.stop {
        StopKind::Converged => "converged",
        StopKind::IterationCap => "iteration-cap",
        StopKind::FloorReached => "floor-reached",
        StopKind::Unusable => "unusable",
    }
}

fn iteration_line(meta: &IterationMeta, attempt: u32, j: &Judged) -> String {
    let s = &j.summary;
    let verdict = match j.observation {
        Observation::Unusable { .. } => "UNUSABLE",
        _ if j.verdict.sustainable => "PASS",
        _ => "FAIL",
    };
    format!(
        "{} stage {} #{}{} {:>9.1} req/min: achieved {:.2} req/s, TTFT p50 {} ms, TPOT p50 {} ms, failed {}/{} -> {verdict}: {}",
        meta.size,
        meta.stage.number(),
        meta.iteration,
        if attempt > 1 {
            format!(" (confirm {attempt})")
        } else {
            String::new()
        },
        meta.req_min,
        s.req_per_s,
        console::opt(s.ttft_ms.as_ref().map(|d| d.p50), 1),
        console::opt(s.tpot_ms.as_ref().map(|d| d.p50), 2),
        s.failed,
        s.requests,
        j.verdict.reason
    )
}
