//! `docs/reference/keys.md`, generated from the registry so the page cannot drift from the code.

use super::{Default, Group, KEYS, Key};

/// The text before the tables: where keys are read from and their value syntax.
const PREAMBLE: &str = r#"# .env keys and flags

<!-- Generated from src/config/keys/table.rs by `MST_WRITE_DOCS=1 cargo test --lib reference_page`; edit the registry, not this page. -->

Every setting mst-search reads, one table per group. How the settings are used is explained in the
[guide](../guide/running.md) and the [design notes](../design/verdict.md); the words are in the
[glossary](../glossary.md).

mst-search reads `KEY=value` settings from three places, in rising priority:

1. the env file given with `--env FILE` (read with dotenvy; it does not change the process
   environment; quotes and `$VAR` substitution follow dotenvy's rules),
2. the process environment (only the keys below are read from it),
3. command-line flags such as `--duration 30m` (each one says which key it overrides).

A value set in a higher place wins. Whitespace around a value is trimmed and an empty value counts
as unset, so it falls through to the next place or the default. A key in the env file that is not
on this page is reported as a warning with the closest known key ("did you mean …?"). Every bad
value stops the run before any traffic is sent, with a message naming the key, the value and what
was expected, and exit code 2.
A key an earlier version read (`QUEUE_GROWTH_MAX_PCT`) gets the same warning, saying what replaced it.

**Value syntax.**
Durations: `1800` (seconds), `1800s`, `250ms`, `1.5s`, `5m`, `2h`; never negative.
Booleans: `TRUE`/`FALSE`, `true`/`false`, `1`/`0`, `yes`/`no`.
Numbers: decimal; `NaN` and infinities are rejected. Choices (`relative`, `poisson`, …) are
case-insensitive.

**Resume check.** Keys marked ✓ decide what an iteration measures or how it is judged: they are
part of each size's settings fingerprint in `state.json`, and a rerun with a different value is
refused (naming the key) until `--fresh` is given. The others (where the server is, where files
go, labels, pacing between iterations) may change between a run and its resumption.
"#;

/// A key's default as the page shows it.
fn default_cell(k: &Key) -> String {
    match k.default {
        Default::Required => "**required**".to_string(),
        Default::Value(v) if k.default_note.is_empty() => format!("`{v}`"),
        Default::Value(v) => format!("`{v}` ({})", k.default_note),
        Default::Otherwise(text) => text.to_string(),
    }
}

/// The whole page: the preamble, one table per [`Group`], and the flags.
pub fn reference_markdown() -> String {
    let mut page = format!("{}\n", PREAMBLE.trim_end());
    for group in Group::ALL {
        page.push_str(&format!(
            "\n## {}\n\n| key | meaning | default | accepted values | unit | resume check |\n|---|---|---|---|---|---|\n",
            group.title()
        ));
        for k in KEYS.iter().filter(|k| k.group == group) {
            page.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                k.name,
                k.doc,
                default_cell(k),
                k.accepted,
                k.unit,
                if k.fingerprint { "✓" } else { "" }
            ));
        }
    }
    page.push_str(
        "\n## Flags\n\n`mst-search run` accepts `--env FILE`, `--quiet`, `--fresh` (start over: move \
         this run's size folders into `OUTPUT_DIR/previous/<time>/` instead of resuming; nothing is \
         deleted) and these overrides, each taking the same syntax as its key:\n\n| flag | key |\n|---|---|\n",
    );
    for k in KEYS {
        if let Some(f) = k.flag {
            page.push_str(&format!(
                "| `--{} {}` | `{}` |\n",
                f.long, f.value_name, k.name
            ));
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed page is exactly the generated one.
    #[test]
    fn reference_page_is_generated_from_the_registry() {
        let page = reference_markdown();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference/keys.md");
        if std::env::var_os("MST_WRITE_DOCS").is_some() {
            std::fs::write(path, &page).expect("write docs/reference/keys.md");
            return;
        }
        let committed = std::fs::read_to_string(path).expect("docs/reference/keys.md");
        assert!(
            committed == page,
            "docs/reference/keys.md differs from the registry: run MST_WRITE_DOCS=1 cargo test --lib reference_page"
        );
        for k in KEYS {
            assert!(
                committed.contains(&format!("| `{}` |", k.name)),
                "{}",
                k.name
            );
        }
    }
}
