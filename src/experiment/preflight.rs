//! The pre-flight: everything checked or prepared before the first request of a run, in one
//! place — the sizes this run searches, the server's `/v1/models` probe (served model,
//! `max_model_len`), model discovery, the workload (prompt lengths measured, dataset answers
//! clipped to the context), the output folder, the size locks, and `--fresh`'s move of old
//! results. A run that fails here has sent no load.

use super::{PROBE_WITHIN, Start, search_units, state};
use crate::client::OpenAiClient;
use crate::config::Config;
use crate::error::{Error, Result, Warning};
use crate::size::SizeSpec;
use crate::workload::Workload;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the run needs once the pre-flight passed.
pub(super) struct Ready {
    /// The client, with the served model filled in.
    pub client: Arc<OpenAiClient>,
    /// The model requested (`MODEL`, or the first `/v1/models` lists); several models are
    /// named together, comma separated (`MODEL` as written, checked against `/v1/models`).
    pub model: String,
    /// The prompts.
    pub workload: Arc<Workload>,
    /// Non-fatal remarks (already logged).
    pub warnings: Vec<Warning>,
    /// The sizes to search: (position in `TOKENS_LIST`, size).
    pub selected: Vec<(usize, SizeSpec)>,
    /// Where `--fresh` moved the old results, if it moved any.
    pub moved_previous: Option<PathBuf>,
    /// The size locks, held until the run ends.
    pub locks: Vec<crate::lock::DirLock>,
}

/// Run the pre-flight for `cfg`.
///
/// # Errors
/// A `GPU_SMI` whose `nvidia-smi` does not run, an unreachable server, a size that does not fit the context, no model to request, a
/// workload that cannot be built, an output folder that cannot be written, or a size already
/// locked by another run.
pub(super) async fn prepare(cfg: &Config, start: Start) -> Result<Ready> {
    crate::telemetry::check(&cfg.telemetry).await?;
    let units = search_units(cfg);
    let selected: Vec<(usize, SizeSpec)> = match cfg.size_index {
        Some(i) => units.into_iter().filter(|(j, _)| *j == i).collect(),
        None => units,
    };
    let mut client_cfg = cfg.client_config();
    let info = OpenAiClient::new(client_cfg.clone())?
        .probe(PROBE_WITHIN)
        .await?;
    crate::workload::check_fits(&cfg.sizes, info.max_model_len)?;
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
    check_served(cfg, &info.models)?;
    let client = Arc::new(OpenAiClient::new(client_cfg.clone())?);
    let (workload, mut warnings) = Workload::prepare(&client, &cfg.workload_settings()).await?;
    let (workload, clipped) = workload.within_context(info.max_model_len);
    warnings.extend(clipped);
    for w in &warnings {
        tracing::warn!("{}", w.0);
    }
    std::fs::create_dir_all(&cfg.output_dir).map_err(|e| Error::Output {
        path: cfg.output_dir.clone(),
        reason: e.to_string(),
    })?;
    // Taken before any load is sent, so a second run of the same sizes sends none.
    let locks = lock_sizes(&cfg.output_dir, &selected)?;
    let moved_previous = match start {
        Start::Fresh => {
            let names: Vec<String> = selected.iter().map(|(_, s)| s.dir_name()).collect();
            state::move_previous(&cfg.output_dir, &names)?
        }
        Start::Resume => None,
    };
    Ok(Ready {
        client,
        model: if cfg.models.len() > 1 {
            cfg.models.join(",")
        } else {
            client_cfg.model
        },
        workload: Arc::new(workload),
        warnings,
        selected,
        moved_previous,
        locks,
    })
}

/// With several `MODEL` names, each must be among the models the server lists (vLLM lists its
/// LoRA adapters there too): a name it does not serve would make every request drawn for it a
/// 404, read as failures of the server. A single `MODEL` is not checked, as before: servers
/// such as llama.cpp or TGI answer for any name while listing only their own.
fn check_served(cfg: &Config, served: &[String]) -> Result<()> {
    if cfg.models.len() < 2 {
        return Ok(());
    }
    let missing: Vec<&str> = cfg
        .models
        .iter()
        .filter(|m| !served.contains(m))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::config(
        "MODEL",
        cfg.models.join(","),
        format!(
            "names the server at {} lists in /v1/models ({}); it does not serve {}",
            cfg.url,
            if served.is_empty() {
                "none".to_string()
            } else {
                served.join(", ")
            },
            missing.join(", ")
        ),
    ))
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
