//! Writes the small traces shipped in `traces/` for `TRACE=` replay, its tests and the README:
//! `synthetic.csv` in our plain format, and the samples `azure_sample.csv` and
//! `mooncake_sample.jsonl` in the shapes of the public Azure and Mooncake traces. Every value
//! is drawn from the seed, so the files are the same on every machine. Run with
//! `cargo run --example make_trace [SEED] [DIR]` (defaults 17 and `traces`).
//!
//! The synthetic trace is 240 requests over about 41 s: about 4 requests/s, twice that in a
//! burst from 20 s to 40 s (about 350 requests/minute on average), short prompts and answers so a replay against the simulator
//! is quick, and a third of its requests in ten sessions (shared prompt prefixes).

use mst_search::seed::{mix, unit};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Exponential gap of mean `mean_s` from the uniform draw `u`.
fn gap(u: f64, mean_s: f64) -> f64 {
    -(1.0 - u).ln() * mean_s
}

/// A whole number in `lo..=hi` from the key.
fn between(key: u64, lo: u32, hi: u32) -> u32 {
    lo + (key % u64::from(hi - lo + 1)) as u32
}

fn synthetic(seed: u64) -> String {
    let mut out = String::from("arrival_s,input_tokens,output_tokens,session\n");
    let mut t = 0.0;
    for i in 0..240u64 {
        let key = mix(seed, i);
        let burst = (20.0..40.0).contains(&t);
        let session = if unit(key, 4) < 1.0 / 3.0 {
            format!("s{}", mix(key, 5) % 10)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{t:.3},{},{},{session}",
            between(mix(key, 1), 16, 600),
            between(mix(key, 2), 4, 32)
        )
        .expect("writing to a String");
        t += gap(unit(key, 3), if burst { 0.125 } else { 0.25 });
    }
    out
}

fn azure(seed: u64) -> String {
    let mut out = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    // 2023-11-16 18:15:46.6805900, in units of 100 ns as Azure writes them.
    let start = chrono::NaiveDate::from_ymd_opt(2023, 11, 16)
        .and_then(|d| d.and_hms_nano_opt(18, 15, 46, 680_590_000))
        .expect("a valid date");
    let mut t = 0.0;
    for i in 0..40u64 {
        let key = mix(seed ^ 0xa2, i);
        let at = start + chrono::Duration::nanoseconds((t * 1e9) as i64 / 100 * 100);
        writeln!(
            out,
            "{}.{:07},{},{}",
            at.format("%Y-%m-%d %H:%M:%S"),
            at.and_utc().timestamp_subsec_nanos() / 100,
            between(mix(key, 1), 20, 2000),
            between(mix(key, 2), 1, 300)
        )
        .expect("writing to a String");
        t += gap(unit(key, 3), 1.5);
    }
    out
}

fn mooncake(seed: u64) -> String {
    let mut out = String::new();
    // Three shared roots of two blocks (system prompts), then blocks of each request's own.
    let mut next_id = 6u64;
    let mut t_ms = 0u64;
    for i in 0..40u64 {
        let key = mix(seed ^ 0x3c, i);
        let input = between(mix(key, 1), 200, 2500);
        let blocks = input.div_ceil(512) as u64;
        let root = mix(key, 4) % 3;
        let ids: Vec<u64> = (0..blocks)
            .map(|j| {
                if j < 2 && unit(key, 5) < 0.7 {
                    root * 2 + j
                } else {
                    next_id += 1;
                    next_id - 1
                }
            })
            .collect();
        let line = serde_json::json!({
            "timestamp": t_ms,
            "input_length": input,
            "output_length": between(mix(key, 2), 1, 200),
            "hash_ids": ids,
        });
        writeln!(out, "{line}").expect("writing to a String");
        // Mooncake's times are whole milliseconds; equal times happen.
        t_ms += (gap(unit(key, 3), 0.8) * 1e3) as u64;
    }
    out
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seed: u64 = match args.next() {
        Some(s) => s.parse().map_err(|e| anyhow::anyhow!("SEED {s:?}: {e}"))?,
        None => 17,
    };
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "traces".into()));
    std::fs::create_dir_all(&dir)?;
    for (name, text) in [
        ("synthetic.csv", synthetic(seed)),
        ("azure_sample.csv", azure(seed)),
        ("mooncake_sample.jsonl", mooncake(seed)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
