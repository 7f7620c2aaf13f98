//! `mst-search report`: the report itself is the separate `mst-report` binary (its polars and
//! plotters dependencies take many minutes to compile, which the tool and the demo should not
//! pay). This finds that binary — next to this executable first, then on `PATH` — and runs it
//! with the same arguments; when it is missing, the error says how to build it.

use anyhow::{Context, bail};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The command that builds the report binary next to `mst-search` in `target/release/`.
pub const BUILD_COMMAND: &str = "cargo build --release -p mst-report";

/// File name of the report binary on this platform.
pub fn binary_name() -> String {
    format!("mst-report{}", std::env::consts::EXE_SUFFIX)
}

/// The report binary in `exe_dir`, else in the first `PATH` entry that has it.
pub fn locate(exe_dir: Option<&Path>, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let name = binary_name();
    exe_dir
        .map(|d| d.join(&name))
        .into_iter()
        .chain(
            path_var
                .into_iter()
                .flat_map(|p| std::env::split_paths(p).map(|d| d.join(&name))),
        )
        .find(|p| p.is_file())
}

/// Run `mst-report --dir DIR --out OUT`; its exit code is returned.
pub fn run(dir: &Path, out: &Path) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent);
    let Some(binary) = locate(exe_dir, std::env::var_os("PATH").as_deref()) else {
        bail!(
            "the report needs the {} binary, which is built separately because polars takes \
             minutes to compile; build it with `{BUILD_COMMAND}` (it lands next to mst-search \
             in target/release/; looked in {} and on PATH)",
            binary_name(),
            exe_dir.map_or_else(|| "-".to_string(), |d| d.display().to_string())
        );
    };
    let status = std::process::Command::new(&binary)
        .arg("--dir")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .status()
        .with_context(|| format!("running {}", binary.display()))?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_next_to_the_executable_wins_over_path_and_absence_is_none() {
        let base = tempfile::tempdir().expect("temp dir");
        let (here, on_path) = (base.path().join("here"), base.path().join("path"));
        std::fs::create_dir_all(&here).unwrap();
        std::fs::create_dir_all(&on_path).unwrap();
        let path_var = std::env::join_paths([&on_path]).unwrap();
        assert_eq!(locate(Some(&here), Some(&path_var)), None);
        std::fs::write(on_path.join(binary_name()), b"").unwrap();
        assert_eq!(
            locate(Some(&here), Some(&path_var)),
            Some(on_path.join(binary_name()))
        );
        std::fs::write(here.join(binary_name()), b"").unwrap();
        assert_eq!(
            locate(Some(&here), Some(&path_var)),
            Some(here.join(binary_name()))
        );
    }
}
