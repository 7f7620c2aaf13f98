//! A report built from a real search against the simulator: the files exist, the summary
//! agrees with mst.json, the PNGs decode at their drawn size and the page links only local
//! files.

use mst_report::{ReportOptions, build, data};
use mst_search::config::Config;
use mst_search::experiment::{self, RunOptions};
use mst_search::output::SizeOutcome;
use mst_search::sim::{EngineConfig, FaultConfig, SimServer, capacity};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mst-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The simulated GPUs: two, together `2 × IDLE_W + PER_SEQ_W × running` W.
const GPUS: u32 = 2;
const IDLE_W: f64 = 60.0;
const PER_SEQ_W: f64 = 2.0;
const MAX_NUM_SEQS: u32 = 16;

/// A short two-size search, scraping the server's metrics and its simulated GPUs.
async fn search(out: &Path) -> Vec<SizeOutcome> {
    let engine = EngineConfig {
        gpus: Some(mst_search::sim::GpuPower {
            gpus: GPUS,
            idle_w: IDLE_W,
            per_seq_w: PER_SEQ_W,
        }),
        ..EngineConfig::small(MAX_NUM_SEQS, 10.0)
    };
    let server = SimServer::start(engine.clone(), FaultConfig::default())
        .await
        .unwrap();
    let starts: Vec<String> = [(64, 32), (256, 16)]
        .iter()
        .map(|&(i, o)| format!("{:.0}", 0.4 * capacity(&engine, i, o).req_per_min))
        .collect();
    let (cfg, _) = Config::from_pairs(&[
        ("URL", server.url()),
        ("DURATION", "2s".into()),
        ("FILTER_BUFFER", "0.3s".into()),
        ("COOLDOWN", "0s".into()),
        ("DRAIN_TIMEOUT", "1s".into()),
        ("TOKENS_LIST", "64:32,256:16".into()),
        ("REQ_MIN_START", starts.join(",")),
        ("QUEUE_GROWTH_MIN_MS", "25".into()),
        ("STOP_THRESHOLD", "0.25".into()),
        ("MAX_ITERATIONS", "6".into()),
        ("SCRAPE_INTERVAL", "200ms".into()),
        (
            "GPU_METRICS_URL",
            format!("{}{}", server.url(), mst_search::sim::DCGM_PATH),
        ),
        ("OUTPUT_DIR", out.display().to_string()),
    ])
    .unwrap();
    let report = experiment::run(cfg, RunOptions { quiet: true }, CancellationToken::new())
        .await
        .unwrap();
    server.shutdown().await;
    report.outcomes
}

fn png_size(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    // A blank image would decode too: some pixels must not be white.
    assert!(
        buf[..info.buffer_size()].iter().any(|&b| b < 200),
        "{} is blank",
        path.display()
    );
    (info.width, info.height)
}

/// Every `src="…"` and `href="…"` value of the page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_of_a_real_search_matches_mst_json_and_links_only_local_files() {
    let results = fresh_dir("results");
    let outcomes = search(&results).await;
    let out = fresh_dir("out");
    let report = build(&ReportOptions {
        dir: results.clone(),
        out: out.clone(),
    })
    .unwrap();

    for f in &report.files {
        assert!(out.join(f).is_file(), "{} listed but missing", f.display());
    }
    // summary.csv: one row per size, numbers equal to mst.json's.
    let mut r = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let num = |row: &csv::StringRecord, name: &str| -> Option<f64> {
        let v = &row[col(name)];
        (!v.is_empty()).then(|| v.parse().unwrap())
    };
    // Sizes in numeric order: 64:32 before 256:16 although "256" < "64" as text.
    let sizes: Vec<&str> = rows.iter().map(|r| &r[col("SIZE")]).collect();
    assert_eq!(sizes, ["64:32", "256:16"]);
    for (row, o) in rows.iter().zip(&outcomes) {
        let dir = o.size.replace(':', "_");
        let mst: SizeOutcome = serde_json::from_str(
            &std::fs::read_to_string(results.join(&dir).join("mst.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(&row[col("SIZE")], mst.size);
        assert_eq!(num(row, "MST_REQ_MIN"), mst.mst_req_min);
        assert_eq!(num(row, "MST_REQ_S"), mst.mst_req_s);
        assert_eq!(num(row, "LOWER_REQ_MIN"), mst.lower_req_min);
        assert_eq!(num(row, "UPPER_REQ_MIN"), mst.upper_req_min);
        assert_eq!(num(row, "WALL_TIME_S"), Some(mst.wall_time_s));
        assert_eq!(&row[col("STOP")], mst.stop.as_str());
        assert_eq!(num(row, "ITERATIONS"), Some(mst.iterations.len() as f64));
        // The latencies at the MST are those of the iteration that measured it.
        let m = mst.mst_req_min.expect("the simulator has a capacity");
        let at = mst
            .iterations
            .iter()
            .rev()
            .find(|i| i.sustainable == Some(true) && i.req_min == m)
            .unwrap();
        assert_eq!(&row[col("MST_ITERATION_FOLDER")], at.folder);
        let mut rr =
            csv::Reader::from_path(results.join(&dir).join(&at.folder).join("results.csv"))
                .unwrap();
        let rh = rr.headers().unwrap().clone();
        let rrow = rr.records().next().unwrap().unwrap();
        for f in [
            "TTFT_P50_MS",
            "E2E_P99_MS",
            "ACHIEVED_REQ_S",
            "SERVER_MAX_WAITING",
        ] {
            let i = rh.iter().position(|h| h == f).unwrap();
            assert_eq!(num(row, f), Some(rrow[i].parse().unwrap()), "{f}");
        }
        // mst.json and results.csv hold the same figure; serde_json's fast float parser may
        // read it one unit in the last place off, hence the relative tolerance.
        let achieved = num(row, "ACHIEVED_REQ_S").unwrap();
        assert!((achieved - at.achieved_req_s).abs() <= 1e-12 * achieved.abs());
        // When a rate failed, the binding criterion names a criterion of the queue evaluator.
        if mst.upper_req_min.is_some() {
            let b = &row[col("BINDING_CRITERION")];
            assert!(
                b.split('+').all(|c| [
                    "success_rate",
                    "throughput",
                    "queue_delay_trend",
                    "backlog_trend"
                ]
                .contains(&c)),
                "binding {b:?}"
            );
        }
        // The markdown table shows the same MST.
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(md.contains(&format!("| {} | {m:.1} |", mst.size)), "{md}");

        // One latency plot per iteration (with the server and the GPU power panels), the two
        // per-size plots.
        for it in &mst.iterations {
            let png = out.join(format!("plots/{dir}/{}_latency.png", it.folder));
            assert_eq!(png_size(&png), (1100, 1100));
            assert!(png.with_extension("svg").is_file());
        }
        assert_eq!(
            png_size(&out.join(format!("plots/{dir}_search.png"))),
            (900, 520)
        );
        assert_eq!(
            png_size(&out.join(format!("plots/{dir}_percentiles.png"))),
            (900, 560)
        );
        // Joules per output token against the rate: every iteration had GPU telemetry.
        assert_eq!(
            png_size(&out.join(format!("plots/{dir}_energy.png"))),
            (900, 480)
        );
        // The fitted curve exactly when mst.json has the interval (a pass and a fail).
        let curve = out.join(format!("plots/{dir}_confidence.png"));
        match &mst.confidence {
            Some(_) => assert_eq!(png_size(&curve), (900, 520)),
            None => assert!(!curve.exists(), "{} without an interval", curve.display()),
        }
    }
    assert_eq!(png_size(&out.join("plots/mst_by_size.png")), (1200, 520));

    // The GPU power series the latency plots draw: every iteration has one, summed over both
    // GPUs, each poll what the simulator exported for some batch (2 × 60 W idle plus 2 W per
    // running sequence, at most MAX_NUM_SEQS of them), and the batch was not always empty.
    let loaded = data::load(&results).unwrap();
    let mut above_idle = 0;
    for it in loaded.iter().flat_map(|s| &s.iterations) {
        let g = it
            .gpu
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no GPU series", it.folder));
        assert_eq!(g.gpus, GPUS, "{}", it.folder);
        // A 2 s iteration polled every 200 ms.
        assert!(g.power_w.len() >= 5, "{}: {:?}", it.folder, g.power_w);
        let idle = f64::from(GPUS) * IDLE_W;
        for &(t, w) in &g.power_w {
            let running = (w - idle) / PER_SEQ_W;
            assert!(
                (running - running.round()).abs() < 1e-6
                    && (0.0..=f64::from(MAX_NUM_SEQS)).contains(&running.round()),
                "{}: {w} W at {t} s is no batch of the simulator",
                it.folder
            );
            if running >= 1.0 {
                above_idle += 1;
            }
        }
        assert!(g.power_w.windows(2).all(|p| p[0].0 < p[1].0), "time order");
    }
    assert!(above_idle > 0, "the GPUs never drew more than idle power");
    let html_text = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html_text.contains("power in W, summed over the 2 GPUs of gpu_metrics.csv"),
        "the latency captions say what the power panel shows"
    );

    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let links = links(&html);
    assert!(links.iter().any(|l| l.ends_with("mst_by_size.svg")));
    for l in &links {
        if let Some(anchor) = l.strip_prefix('#') {
            assert!(html.contains(&format!("id=\"{anchor}\"")), "dangling {l}");
            continue;
        }
        assert!(
            !l.contains("://") && !l.starts_with('/') && !l.starts_with("data:"),
            "non-local link {l}"
        );
        assert!(out.join(l).is_file(), "link to a missing file {l}");
    }
    assert!(!html.contains("<script"), "the page needs no script");
}

#[test]
fn a_folder_without_results_is_an_error_naming_it() {
    let empty = fresh_dir("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = build(&ReportOptions {
        dir: empty.clone(),
        out: fresh_dir("empty-out"),
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains(&empty.display().to_string()));
}
