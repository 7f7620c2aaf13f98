//! The driver: for each size in `TOKENS_LIST`, in order, run the search — ask the state machine
//! for a rate, run an iteration at it, judge it, write its files, feed the verdict back — then
//! write the size's outcome (`mst.json`, a row of `summary.csv`). All I/O of a run lives here
//! and in the modules it calls; the search itself stays pure.

pub mod console;

use crate::client::{ClientConfig, OpenAiClient};
use crate::config::{Config, SizeSpec, Warning};
use crate::error::{Error, Result};
use crate::evaluate::{self, EvalInput, Evaluator, Verdict};
use crate::load::iteration::{Completion, IterationMeta};
use crate::load::record::RequestRecord;
use crate::load::runner::{IterationPlan, Progress, iteration_seed, run_iteration};
use crate::metrics::{self, IterationSummary};
use crate::output::{self, IterationBrief, IterationFiles, SizeOutcome};
use crate::search::{Observation, Search, SearchConfig, SearchOutcome, Step};
use crate::workload::Workload;
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

/// Run the whole experiment. `interrupt` (signals) stops it between or inside iterations.
pub async fn run(cfg: Config, opts: RunOptions, interrupt: CancellationToken) -> Result<RunReport> {
    // Everything that can be wrong with the configuration is found before any traffic.
    let evaluator = evaluate::build(&cfg)?;
    refuse_unimplemented(&cfg)?;
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
    if !opts.quiet {
        println!(
            "mst-search: {} model {} ({} sizes, {} s iterations, evaluator {})",
            cfg.url,
            client_cfg.model,
            cfg.sizes.len(),
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
    for (index, size) in cfg.sizes.iter().enumerate() {
        let outcome = ctx.search_size(index, *size).await?;
        output::write_size_outcome(&cfg.output_dir, &size.dir_name(), &outcome)?;
        output::append_summary(&cfg.output_dir, &outcome)?;
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
        let mut search = Search::new(SearchConfig {
            start_req_min: cfg.start_req_min(index),
            multiplier: cfg.multiplier,
            threshold: cfg.threshold,
            confirm: cfg.confirm,
            max_iterations: cfg.max_iterations,
            min_req_min: cfg.req_min_floor,
        });
        let started = chrono::Local::now();
        let clock = Instant::now();
        let mut briefs = Vec::new();
        let outcome: SearchOutcome = loop {
            let run = match search.current() {
                Step::Done(outcome) => break outcome,
                Step::Run(run) => run,
            };
            let iteration = search.history().len() as u32 + 1;
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
            let scraper = crate::scrape::Scraper::start(&cfg.scrape);
            let (meta, records) = run_iteration(
                self.client.clone(),
                self.workload.clone(),
                &plan,
                self.interrupt,
                progress,
            )
            .await;
            drop(live);
            let server = match scraper {
                Some(s) => Some(s.finish(meta.started_at).await),
                None => None,
            };
            let judged = self.judge(&meta, &records);
            let folder = output::write_iteration(
                &cfg.output_dir,
                &IterationFiles {
                    meta: &meta,
                    records: &records,
                    summary: &judged.summary,
                    verdict: &judged.verdict,
                    halves: &judged.halves,
                    server: server.as_ref(),
                },
            )?;
            if let Completion::Interrupted(why) = &meta.completion {
                return Err(Error::Interrupted {
                    signal: format!(
                        "a signal ({why}); the partial iteration is in {}",
                        folder.display()
                    ),
                });
            }
            if !self.opts.quiet {
                println!("{}", iteration_line(&meta, run.attempt, &judged));
            }
            briefs.push(IterationBrief {
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
            });
            let next = search.observe(judged.observation);
            if matches!(next, Step::Run(_)) && !cfg.cooldown.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(cfg.cooldown) => {}
                    _ = self.interrupt.cancelled() => {
                        return Err(Error::Interrupted { signal: "a signal during the cooldown".into() });
                    }
                }
            }
        };
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
            iterations: briefs,
            started_at: started.to_rfc3339(),
            finished_at: chrono::Local::now().to_rfc3339(),
            wall_time_s: clock.elapsed().as_secs_f64(),
            job_id: cfg.job_id.clone(),
            evaluators: cfg.evaluators.clone(),
        })
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
