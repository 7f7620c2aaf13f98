//! The checkpoint of one size's search: `<output_dir>/<in>_<out>/state.json`, rewritten
//! atomically after every iteration, so a run stopped by a signal, a SLURM time limit or a
//! crash continues where it was when the same command runs again.
//!
//! The file holds the search state machine itself (bounds, pending confirmations, history),
//! every finished iteration's rate and verdict, and a fingerprint of the settings that decide
//! what an iteration measures and how it is judged. A rerun whose settings differ is refused
//! with the list of differences, so old and new iterations are never mixed silently.
//!
//! Folders that are not part of the search — an iteration interrupted by a signal, or one
//! written just before a crash but never recorded here — are moved into
//! `<in>_<out>/interrupted/` with an `INTERRUPTED.txt` saying why, so `<in>_<out>/*/` holds
//! only complete, counted iterations.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::IterationBrief;
use crate::search::{Observation, Search, SearchConfig, SearchOutcome, Step};
use mst_results::RepeatOutcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The checkpoint's file name inside a size folder.
pub const STATE_FILE: &str = "state.json";
/// Sub-folder of a size folder for iterations that do not count.
pub const INTERRUPTED_DIR: &str = "interrupted";
/// The marker written into every folder moved into [`INTERRUPTED_DIR`].
pub const MARKER_FILE: &str = "INTERRUPTED.txt";
/// Sub-folder of the output folder that `--fresh` moves old size folders into.
pub const PREVIOUS_DIR: &str = "previous";
/// Version of the `state.json` layout; a different version is refused. 2: the settings are the
/// serde-serialised configuration named by key (the registry's fingerprint keys, now with
/// `CLIENT_LAG_LIMIT_MS`), not `Debug` text, so a version-1 file's settings cannot be compared.
pub const STATE_VERSION: u32 = 2;

/// The content of `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeState {
    /// Layout version ([`STATE_VERSION`]).
    pub version: u32,
    /// The size, `in:out`.
    pub size: String,
    /// Hash of `settings` (16 hex digits, FNV-1a), for a quick look.
    pub fingerprint: String,
    /// The settings the iterations were run and judged with, by `.env` key.
    pub settings: BTreeMap<String, String>,
    /// The search state machine after the last finished iteration.
    pub search: Search,
    /// Every counted iteration, in order (rate, verdict, folder), of every repeat.
    pub iterations: Vec<IterationBrief>,
    /// With `REPEATS` > 1: the searches of this size that have ended, in order; `search` is the
    /// one after them.
    #[serde(default)]
    pub repeats_done: Vec<RepeatOutcome>,
    /// Seconds the saturation probe (with its settle wait) held the server, not yet added to
    /// an iteration's `time_s`: the next recorded iteration takes them, so the probe's cost
    /// survives a resume between the probe and that iteration.
    #[serde(default)]
    pub probe_time_s: f64,
    /// Iterations that do not count (interrupted, or unrecorded after a crash).
    pub set_aside: Vec<SetAside>,
    /// When this size's search first started (RFC 3339).
    pub started_at: String,
    /// When the search ended (RFC 3339); None while it runs.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Seconds spent on this size over all runs so far, cooldowns included.
    pub wall_time_s: f64,
    /// Every run that worked on this size, first to last.
    pub runs: Vec<RunStamp>,
    /// When this file was written (RFC 3339).
    pub updated_at: String,
}

/// An iteration folder moved into `interrupted/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAside {
    /// Its folder, relative to the size folder (`interrupted/<timestamp>`).
    pub folder: String,
    /// The iteration number it had; it is run again under the same number.
    pub iteration: Option<u32>,
    /// Its rate, requests/minute, when known.
    pub req_min: Option<f64>,
    /// Why it does not count.
    pub why: String,
}

/// One run (process) that worked on a size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStamp {
    /// When it started on this size (RFC 3339).
    pub started_at: String,
    /// Its process id.
    pub pid: u32,
    /// `JOB_ID` (the SLURM job id inside a job), when given.
    pub job_id: Option<String>,
    /// `NODE`, when given.
    pub node: Option<String>,
}

impl RunStamp {
    /// This process, now.
    pub fn now(cfg: &Config) -> RunStamp {
        RunStamp {
            started_at: chrono::Local::now().to_rfc3339(),
            pid: std::process::id(),
            job_id: cfg.job_id.clone(),
            node: cfg.metadata.get("NODE").cloned(),
        }
    }
}

/// The settings that make iterations comparable, for the size at `index` served by `model`:
/// the serde-serialised [`Config`] (every key marked `fingerprint` in the registry, named by
/// its `.env` key, see `config::keys`) plus this size's own entry, position and start rate, and
/// the whole mix for an `ADDITIVE` search. One entry per top-level setting, its value as
/// compact JSON, so a refusal names the key that changed. The URL, cooldown, output folder
/// and metadata are left out on purpose: a resumed SLURM job may reach the same server on
/// another node.
pub fn settings(cfg: &Config, index: usize, model: &str) -> BTreeMap<String, String> {
    let size = cfg
        .sizes
        .get(index)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut map: BTreeMap<String, String> = match serde_json::to_value(cfg) {
        Ok(serde_json::Value::Object(fields)) => {
            fields.into_iter().map(|(k, v)| (k, compact(&v))).collect()
        }
        // Config is a struct of plain data: it always serialises to an object.
        _ => BTreeMap::new(),
    };
    map.insert("TOKENS_LIST entry".into(), size);
    map.insert("TOKENS_LIST position".into(), index.to_string());
    map.insert("MODEL".into(), model.to_string());
    // With LOAD=users the start is USERS_START, already in the map.
    if cfg.mode.load.is_rate() {
        map.insert("REQ_MIN_START".into(), cfg.start_req_min(index).to_string());
    }
    // A mixed search measures every entry with its weight; separate searches only their own
    // entry, so adding a size to TOKENS_LIST does not invalidate the others.
    map.insert(
        "ADDITIVE mix".into(),
        if cfg.additive {
            let sizes: Vec<String> = cfg.sizes.iter().map(|s| s.to_string()).collect();
            format!("{} {:?}", sizes.join(","), cfg.tokens_list_proportion)
        } else {
            String::new()
        },
    );
    map
}

/// A JSON value as a setting's text: strings bare, everything else compact JSON.
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// FNV-1a (64 bit) over the settings as `key=value` lines: stable across builds and platforms,
/// unlike std's hasher.
pub fn fingerprint(settings: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in settings {
        for b in k.bytes().chain([b'=']).chain(v.bytes()).chain([b'\n']) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The differences between old and new settings, one sentence each.
pub fn differences(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| match (old.get(k), new.get(k)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => Some(format!("{k} was {a} and is now {b}")),
            (Some(a), None) => Some(format!("{k} was {a} and is no longer a setting")),
            (None, Some(b)) => Some(format!("{k} is new (now {b})")),
            (None, None) => None,
        })
        .collect()
}

/// An open checkpoint: the state plus where it lives and the clock of this run.
#[derive(Debug)]
pub struct Checkpoint {
    /// The state as last saved (or about to be).
    pub state: SizeState,
    size_dir: PathBuf,
    clock: Instant,
    wall_before_s: f64,
}

/// How [`Checkpoint::open`] found the size.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// No checkpoint: a new search.
    New,
    /// A checkpoint with matching settings: the search continues.
    Resumed,
    /// A checkpoint with matching settings whose search had ended: nothing to run.
    Finished,
}

fn checkpoint_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Checkpoint {
    /// Open the checkpoint in `size_dir`, or start one. A checkpoint whose settings differ from
    /// `settings` is refused, naming every difference; results without a checkpoint are
    /// refused too (both need `--fresh`). Iteration folders the checkpoint does not know are
    /// moved aside. The state is saved before returning, with `stamp` added to its runs.
    pub fn open(
        size_dir: &Path,
        size: &str,
        settings: BTreeMap<String, String>,
        search: SearchConfig,
        stamp: RunStamp,
    ) -> Result<(Checkpoint, Opened)> {
        let path = size_dir.join(STATE_FILE);
        let (state, opened) = match fs::read(&path) {
            Ok(bytes) => (Self::check(&path, &bytes, &settings)?, Opened::Resumed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Self::refuse_foreign_results(size_dir)?;
                let now = chrono::Local::now().to_rfc3339();
                let state = SizeState {
                    version: STATE_VERSION,
                    size: size.to_string(),
                    fingerprint: fingerprint(&settings),
                    settings,
                    search: Search::new(search),
                    iterations: Vec::new(),
                    repeats_done: Vec::new(),
                    probe_time_s: 0.0,
                    set_aside: Vec::new(),
                    started_at: now.clone(),
                    finished_at: None,
                    wall_time_s: 0.0,
                    runs: Vec::new(),
                    updated_at: now,
                };
                (state, Opened::New)
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        let finished = state.finished_at.is_some();
        let mut cp = Checkpoint {
            wall_before_s: state.wall_time_s,
            state,
            size_dir: size_dir.to_path_buf(),
            clock: Instant::now(),
        };
        if finished {
            // A finished search is reported as it was; the file stays untouched.
            return Ok((cp, Opened::Finished));
        }
        cp.state.runs.push(stamp);
        if opened == Opened::Resumed {
            cp.set_aside_unrecorded()?;
        }
        cp.save()?;
        Ok((cp, opened))
    }

    fn check(path: &Path, bytes: &[u8], settings: &BTreeMap<String, String>) -> Result<SizeState> {
        let state: SizeState = serde_json::from_slice(bytes).map_err(|e| {
            checkpoint_error(
                path,
                format!(
                    "it is not a state file of this version ({e}); move it away or pass --fresh \
                     to set the old results aside and start over"
                ),
            )
        })?;
        if state.version != STATE_VERSION {
            return Err(checkpoint_error(
                path,
                format!(
                    "it has layout version {}, this mst-search writes {STATE_VERSION}; pass \
                     --fresh to set the old results aside and start over",
                    state.version
                ),
            ));
        }
        let diffs = differences(&state.settings, settings);
        if !diffs.is_empty() {
            return Err(checkpoint_error(
                path,
                format!(
                    "its iterations were run with other settings ({}), so continuing would mix \
                     results that are not comparable; restore the old settings to continue, or \
                     pass --fresh to set the old results aside and start over",
                    diffs.join("; ")
                ),
            ));
        }
        Ok(state)
    }

    /// Results in a size folder without a checkpoint come from an older version or another
    /// tool: refuse to mix new iterations into them.
    fn refuse_foreign_results(size_dir: &Path) -> Result<()> {
        let found = match fs::read_dir(size_dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(size_dir, e)),
        };
        if found.is_empty() {
            return Ok(());
        }
        Err(checkpoint_error(
            &size_dir.join(STATE_FILE),
            format!(
                "it is missing but {} already holds results ({}), from an older version or an \
                 unfinished first start; pass --fresh to set them aside and start over",
                size_dir.display(),
                found.join(", ")
            ),
        ))
    }

    /// Iteration folders written but never recorded (a crash between writing the folder and
    /// saving the state): the search runs them again, so they are moved aside.
    fn set_aside_unrecorded(&mut self) -> Result<()> {
        let entries = fs::read_dir(&self.size_dir).map_err(|e| io_error(&self.size_dir, e))?;
        let mut unknown: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.starts_with('.')
                    && name != INTERRUPTED_DIR
                    && !self.state.iterations.iter().any(|b| b.folder == name)
            })
            .map(|e| e.path())
            .collect();
        unknown.sort();
        for folder in unknown {
            tracing::warn!(
                "{} is not recorded in {STATE_FILE} (the run stopped before saving it); moving \
                 it into {INTERRUPTED_DIR}/ and running that iteration again",
                folder.display()
            );
            self.move_aside(
                &folder,
                None,
                None,
                "complete on disk but not recorded in state.json: the run stopped between \
                 writing it and saving the state",
            )?;
        }
        Ok(())
    }

    /// Move an iteration folder into `interrupted/`, mark it, and record it (not saved yet).
    /// Returns the new path.
    fn move_aside(
        &mut self,
        folder: &Path,
        iteration: Option<u32>,
        req_min: Option<f64>,
        why: &str,
    ) -> Result<PathBuf> {
        let aside_dir = self.size_dir.join(INTERRUPTED_DIR);
        fs::create_dir_all(&aside_dir).map_err(|e| io_error(&aside_dir, e))?;
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "iteration".into());
        let target = free_name(&aside_dir, &name);
        fs::rename(folder, &target).map_err(|e| io_error(&target, e))?;
        let marker = target.join(MARKER_FILE);
        let note = format!(
            "This iteration does not count in the search: {why}.\n\
             Its files may be partial. The search ran (or will run) iteration {} again.\n",
            iteration.map_or_else(|| "this".to_string(), |i| i.to_string())
        );
        fs::write(&marker, note).map_err(|e| io_error(&marker, e))?;
        let rel = format!(
            "{INTERRUPTED_DIR}/{}",
            target.file_name().unwrap_or_default().to_string_lossy()
        );
        self.state.set_aside.push(SetAside {
            folder: rel,
            iteration,
            req_min,
            why: why.to_string(),
        });
        Ok(target)
    }

    /// Set an interrupted iteration's folder aside and save the state; returns its new path.
    pub fn set_aside_interrupted(
        &mut self,
        folder: &Path,
        iteration: u32,
        req_min: f64,
        why: &str,
    ) -> Result<PathBuf> {
        let why = format!("interrupted ({why})");
        let target = self.move_aside(folder, Some(iteration), Some(req_min), &why)?;
        self.save()?;
        Ok(target)
    }

    /// Record a finished iteration: feed its observation to the search, keep its brief, save.
    pub fn record(
        &mut self,
        mut brief: IterationBrief,
        observation: Observation,
        throughput: Option<crate::search::Throughput>,
    ) -> Result<Step> {
        brief.time_s += std::mem::take(&mut self.state.probe_time_s);
        self.state.iterations.push(brief);
        let step = self.state.search.observe_measured(observation, throughput);
        self.save()?;
        Ok(step)
    }

    /// Which repeat the current search is, from 1.
    pub fn repeat(&self) -> u32 {
        self.state.repeats_done.len() as u32 + 1
    }

    /// The current search ended with `outcome`: with repeats left (`repeats` in all), keep it
    /// in `repeats_done`, start the next search with the same parameters, save, and return
    /// true; on the last repeat return false and change nothing.
    pub fn next_repeat(&mut self, outcome: &SearchOutcome, repeats: u32) -> Result<bool> {
        if self.repeat() >= repeats {
            return Ok(false);
        }
        let done = self.repeat_outcome(outcome);
        self.state.repeats_done.push(done);
        self.state.search = Search::new(self.state.search.config().clone());
        self.save()?;
        Ok(true)
    }

    /// The current search's outcome as one repeat.
    pub fn repeat_outcome(&self, outcome: &SearchOutcome) -> RepeatOutcome {
        let repeat = self.repeat();
        let mine: Vec<&IterationBrief> = self
            .state
            .iterations
            .iter()
            .filter(|b| b.repeat == repeat)
            .collect();
        RepeatOutcome {
            repeat,
            mst_req_min: outcome.mst_req_min,
            upper_req_min: outcome.upper_req_min,
            stop: outcome.stop,
            reason: outcome.reason.clone(),
            iterations: mine.len() as u32,
            iteration_time_s: mine.iter().map(|b| b.time_s).sum(),
        }
    }

    /// Record the saturation probe's result (None: it measured nothing), save.
    pub fn record_probe(
        &mut self,
        throughput: Option<crate::search::Throughput>,
        held_s: f64,
    ) -> Result<Step> {
        self.state.probe_time_s += held_s;
        let step = self.state.search.observe_probe(throughput);
        self.save()?;
        Ok(step)
    }

    /// Mark the search as ended (once) and save.
    pub fn finish(&mut self) -> Result<()> {
        if self.state.finished_at.is_none() {
            self.state.wall_time_s = self.wall_time_s();
            self.state.finished_at = Some(chrono::Local::now().to_rfc3339());
            self.save()?;
        }
        Ok(())
    }

    /// Seconds spent on this size over all runs, up to now (frozen once finished).
    pub fn wall_time_s(&self) -> f64 {
        if self.state.finished_at.is_some() {
            return self.state.wall_time_s;
        }
        self.wall_before_s + self.clock.elapsed().as_secs_f64()
    }

    /// Write `state.json` atomically (temporary file, then rename).
    pub fn save(&mut self) -> Result<()> {
        self.state.wall_time_s = self.wall_time_s();
        self.state.updated_at = chrono::Local::now().to_rfc3339();
        fs::create_dir_all(&self.size_dir).map_err(|e| io_error(&self.size_dir, e))?;
        let path = self.size_dir.join(STATE_FILE);
        let mut json = serde_json::to_vec_pretty(&self.state).map_err(|e| io_error(&path, e))?;
        json.push(b'\n');
        let tmp = self
            .size_dir
            .join(format!(".{STATE_FILE}.tmp-{}", std::process::id()));
        let written = (|| {
            use std::io::Write;
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        written.map_err(|e| {
            // Ours and useless now; the error that matters is the write's.
            let _ = fs::remove_file(&tmp);
            io_error(&path, e)
        })
    }
}

/// `name`, or `name_2`, `name_3`, …: the first not taken in `dir`.
pub fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    (2u32..)
        .map(|n| dir.join(format!("{name}_{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Move the folders of `size_dirs` (names under `output_dir`) into
/// `<output_dir>/previous/<timestamp>/` for `--fresh`: nothing is deleted. Returns where they
/// went, or None when there was nothing to move.
pub fn move_previous(output_dir: &Path, size_dirs: &[String]) -> Result<Option<PathBuf>> {
    let present: Vec<&String> = size_dirs
        .iter()
        .filter(|d| output_dir.join(d).exists())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    let stamp = chrono::Local::now().format("%Y-%m-%d_%H-%M-%S").to_string();
    let base = output_dir.join(PREVIOUS_DIR);
    fs::create_dir_all(&base).map_err(|e| io_error(&base, e))?;
    // Array tasks started with --fresh in the same second race for the name: create, not test.
    let mut n = 1u32;
    let target = loop {
        let name = if n == 1 {
            stamp.clone()
        } else {
            format!("{stamp}_{n}")
        };
        let candidate = base.join(name);
        match fs::create_dir(&candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
            Err(e) => return Err(io_error(&candidate, e)),
        }
    };
    for d in present {
        let to = target.join(d);
        fs::rename(output_dir.join(d), &to).map_err(|e| io_error(&to, e))?;
    }
    Ok(Some(target))
}

#[cfg(test)]
mod tests;
