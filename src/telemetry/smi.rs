//! `GPU_SMI=true`: the local GPUs sampled with `nvidia-smi --query-gpu` (the server on the
//! same node, as in `slurm/serve_and_search.slurm`), each row renamed to the DCGM exporter's
//! fields so the summary treats both sources alike.
//!
//! The query asks for `index,power.draw,utilization.gpu,memory.used` with
//! `--format=csv,noheader,nounits`: power in W, utilisation in %, memory in MiB (the units
//! `nvidia-smi --help-query-gpu` gives). nvidia-smi has no energy counter among its query
//! fields, so the energy of this source is always ∫P dt. A field a GPU does not support reads
//! `[N/A]` and is left out.

use super::dcgm;
use crate::scrape::Samples;

/// The program looked up on `PATH`.
pub const PROGRAM: &str = "nvidia-smi";

/// The query's fields, in column order.
const FIELDS: [&str; 4] = ["index", "power.draw", "utilization.gpu", "memory.used"];

/// The arguments of one sample.
pub fn args() -> Vec<String> {
    vec![
        format!("--query-gpu={}", FIELDS.join(",")),
        "--format=csv,noheader,nounits".into(),
    ]
}

/// One sample's output (one line per GPU: `0, 71.3, 12, 4096`) → DCGM-named samples labelled
/// `gpu="<index>"`. A line with the wrong number of fields, or output without a GPU, is an
/// error in words.
pub fn parse(out: &str) -> Result<Samples, String> {
    let mut samples = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != FIELDS.len() {
            return Err(format!(
                "expected {} comma-separated fields ({}) per line, got {line:?}",
                FIELDS.len(),
                FIELDS.join(",")
            ));
        }
        let labels = format!("gpu=\"{}\"", cells[0]);
        for (metric, cell) in [dcgm::POWER, dcgm::UTIL, dcgm::FB_USED]
            .iter()
            .zip(&cells[1..])
        {
            // `[N/A]`, `[Not Supported]`: the GPU cannot say; the field is left out.
            if let Ok(v) = cell.parse::<f64>() {
                samples.push((metric.to_string(), labels.clone(), v));
            }
        }
    }
    if samples.is_empty() {
        return Err(format!("no GPU in its output {:?}", out.trim()));
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_dcgm_samples_and_unsupported_fields_are_left_out() {
        let got = parse("0, 71.30, 12, 4096\n1, [N/A], 0, 10\n\n").unwrap();
        assert_eq!(
            got,
            vec![
                (dcgm::POWER.into(), "gpu=\"0\"".into(), 71.3),
                (dcgm::UTIL.into(), "gpu=\"0\"".into(), 12.0),
                (dcgm::FB_USED.into(), "gpu=\"0\"".into(), 4096.0),
                (dcgm::UTIL.into(), "gpu=\"1\"".into(), 0.0),
                (dcgm::FB_USED.into(), "gpu=\"1\"".into(), 10.0),
            ]
        );
        assert!(
            parse("0, 71.3\n")
                .unwrap_err()
                .contains("4 comma-separated")
        );
        assert!(parse("").unwrap_err().contains("no GPU"));
        assert_eq!(
            args(),
            [
                "--query-gpu=index,power.draw,utilization.gpu,memory.used",
                "--format=csv,noheader,nounits"
            ]
        );
    }
}
