//! Benchmark (not a test): writes a synthetic results tree — 5 sizes × 20 iterations × 20,000
//! requests by default — and times `mst_report::build` on it.
//!
//! `cargo run --release -p mst-report --example bench_report [-- ITERATIONS REQUESTS]`

use mst_search::output::{IterationBrief, OUTPUT_COLUMNS, SizeOutcome};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

const SIZES: usize = 5;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// A cheap deterministic generator (xorshift), so the tree is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn write_iteration(
    dir: &Path,
    it: u32,
    req_min: f64,
    pass: bool,
    n: usize,
    rng: &mut Rng,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut w = BufWriter::new(std::fs::File::create(dir.join("output.csv"))?);
    writeln!(w, "{}", OUTPUT_COLUMNS.join(","))?;
    let duration = 600.0;
    for i in 0..n {
        let send = duration * i as f64 / n as f64;
        let queue = if pass { 0.0 } else { send * 2.0 };
        let ttft = 40.0 + 30.0 * rng.next() + queue;
        let e2e = ttft + 900.0 + 200.0 * rng.next();
        let ok = rng.next() > 0.001;
        writeln!(
            w,
            "{:.6},{e2e:.3},99.9,{},0,{i},{it}-{i},{send:.6},{send:.6},0.100,{ttft:.3},9.000,9.000,12.000,9.500,{e2e:.3},128,128,100,100,200,{},",
            1.7e9 + send,
            if ok { "True" } else { "False" },
            if ok { "" } else { "stream-cut" }
        )?;
    }
    w.flush()?;
    std::fs::write(
        dir.join("results.csv"),
        format!(
            "MODEL_USED,REQ_MIN,EVALUATION,DURATION,FILTER_BUFFER,ITERATION,STAGE,COMPLETION,VERDICT_REASON,ACHIEVED_REQ_S,TTFT_P50_MS,TTFT_P90_MS,TTFT_P99_MS,E2E_P50_MS,E2E_P90_MS,E2E_P99_MS,QUEUE_DELAY_TREND_PASSED\n\
             m,{req_min},{},{duration},60,{it},1,COMPLETE,synthetic,{:.3},50,60,70,1000,1100,1200,{}\n",
            if pass { "TRUE" } else { "FALSE" },
            req_min / 60.0,
            if pass { "TRUE" } else { "FALSE" },
        ),
    )?;
    let mut m = String::from("time_s,metric,labels,value\n");
    for k in 0..120 {
        let t = k as f64 * 5.0;
        for (name, v) in [
            (
                "vllm:num_requests_waiting",
                if pass { 1.0 } else { t / 10.0 },
            ),
            ("vllm:num_requests_running", 32.0),
        ] {
            m.push_str(&format!("{t},{name},\"model_name=\"\"m\"\"\",{v}\n"));
        }
    }
    std::fs::write(dir.join("server_metrics.csv"), m)
}

fn main() -> anyhow::Result<()> {
    let per_size = arg(1, 20);
    let requests = arg(2, 20_000);
    let root = std::env::temp_dir().join(format!("mst-report-bench-{}", std::process::id()));
    let tree = root.join("requests");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = Instant::now();
    for s in 0..SIZES {
        let size_dir = tree.join(format!("{}_{}", 128 << s, 128));
        let mut iterations = Vec::new();
        for it in 1..=per_size as u32 {
            let req_min = 100.0 + 10.0 * f64::from(it);
            let pass = it % 2 == 1;
            let folder = format!("2026-01-01_00-{:02}-{:02}", it / 60, it % 60);
            write_iteration(
                &size_dir.join(&folder),
                it,
                req_min,
                pass,
                requests,
                &mut rng,
            )?;
            iterations.push(IterationBrief {
                iteration: it,
                load: None,
                stage: 1,
                req_min,
                attempt: 1,
                sustainable: Some(pass),
                reason: "synthetic".into(),
                folder,
                achieved_req_s: req_min / 60.0,
                steady_req_min: req_min,
                succeeded: requests as u64,
                output_tokens_p50: Some(128.0),
                short_outputs: 0,
                time_s: 0.0,
                repeat: 1,
                gpu: None,
            });
        }
        let outcome = SizeOutcome {
            size: format!("{}:128", 128 << s),
            input_tokens: (128 << s).to_string(),
            output_tokens: "128".into(),
            model: "m".into(),
            mst_req_min: Some(100.0 + 10.0 * (per_size as f64 - 1.0)),
            mst_req_s: None,
            lower_req_min: Some(100.0 + 10.0 * (per_size as f64 - 1.0)),
            upper_req_min: Some(100.0 + 10.0 * per_size as f64),
            load_unit: Default::default(),
            mst_load: None,
            lower_load: None,
            upper_load: None,
            stop: mst_search::output::StopKind::Converged,
            reason: "synthetic".into(),
            iterations,
            started_at: String::new(),
            finished_at: String::new(),
            wall_time_s: 0.0,
            job_id: None,
            evaluators: vec!["queue".into()],
            generated_output_tokens_p50: Some(128.0),
            short_outputs_pct: Some(0.0),
            iteration_time_s: 0.0,
            search: "classic".into(),
            capacity_estimate: None,
            probe_req_min: None,
            repeats: Vec::new(),
            repeat_stats: None,
            confidence: None,
            energy: None,
        };
        std::fs::write(
            size_dir.join("mst.json"),
            serde_json::to_vec_pretty(&outcome)?,
        )?;
    }
    println!(
        "generated {} iterations x {requests} requests in {:.1} s under {}",
        SIZES * per_size,
        t.elapsed().as_secs_f64(),
        tree.display()
    );
    let t = Instant::now();
    let report = mst_report::build(&mst_report::ReportOptions {
        dir: tree,
        out: root.join("report"),
    })?;
    println!(
        "report: {} files in {:.2} s",
        report.files.len(),
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
