//! The DCGM exporter's field names and units, the one representation of GPU telemetry here:
//! samples from `nvidia-smi` are renamed to these, so one summary serves both sources.
//!
//! Names and units as in the exporter's `default-counters.csv` (github.com/NVIDIA/dcgm-exporter,
//! `etc/default-counters.csv`): power in W (a gauge), total energy since boot in mJ (a
//! counter; Volta and newer), utilisation in %, framebuffer memory used in MiB. Each sample
//! carries the labels `gpu` (the index), `UUID`, `device`, `modelName` and `Hostname`.

/// `DCGM_FI_DEV_POWER_USAGE`: power draw, W.
pub const POWER: &str = "DCGM_FI_DEV_POWER_USAGE";
/// `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`: energy since boot, mJ (a counter).
pub const ENERGY: &str = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION";
/// `DCGM_FI_DEV_GPU_UTIL`: GPU utilisation, %.
pub const UTIL: &str = "DCGM_FI_DEV_GPU_UTIL";
/// `DCGM_FI_DEV_FB_USED`: framebuffer memory used, MiB.
pub const FB_USED: &str = "DCGM_FI_DEV_FB_USED";

/// The fields kept from a scrape; everything else the exporter sends is dropped.
pub const KEPT: [&str; 4] = [POWER, ENERGY, UTIL, FB_USED];

/// Whether a scraped metric is one of [`KEPT`].
pub fn keep(metric: &str) -> bool {
    KEPT.contains(&metric)
}

/// The GPU a sample belongs to: its `Hostname` (when there is one) and `gpu` index, else its
/// `UUID`, else the whole label set, so samples of one GPU always share one name.
pub fn gpu_of(labels: &str) -> String {
    let host = label(labels, "Hostname");
    let id = label(labels, "gpu").or_else(|| label(labels, "UUID"));
    match (host, id) {
        (Some(h), Some(g)) if !h.is_empty() => format!("{h}:{g}"),
        (_, Some(g)) => g,
        _ => labels.to_string(),
    }
}

/// The value of `name="…"` in a Prometheus label set (escapes left as written).
fn label(labels: &str, name: &str) -> Option<String> {
    let mut rest = labels;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches([',', ' ']).trim();
        let body = &rest[eq + 2..];
        let (mut end, mut escaped) = (None, false);
        for (i, c) in body.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        if key == name {
            return Some(body[..end].to_string());
        }
        rest = &body[end + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gpu_is_named_by_host_and_index_else_uuid() {
        let l = r#"gpu="1",UUID="GPU-ab",device="nvidia1",modelName="NVIDIA H100, \"SXM\"",Hostname="node7""#;
        assert_eq!(gpu_of(l), "node7:1");
        assert_eq!(gpu_of(r#"UUID="GPU-ab""#), "GPU-ab");
        assert_eq!(gpu_of(r#"gpu="0""#), "0");
        assert_eq!(gpu_of("job=\"x\""), "job=\"x\"");
        assert!(keep(POWER) && !keep("DCGM_FI_DEV_GPU_TEMP"));
    }
}
