//! Precedence, cross-key rules, warnings, the env file, and secrecy of the API key.

use super::*;
use std::cell::RefCell;

#[test]
fn missing_required_keys() {
    let e = resolve_with(&[("TOKENS_LIST", "16:16")], &[], &[]).map(|_| ());
    assert!(
        matches!(e, Err(Error::MissingKey { ref key, .. }) if key == "URL"),
        "{e:?}"
    );
    let e = resolve_with(&[("URL", "h:1"), ("TOKENS_LIST", " ")], &[], &[]).map(|_| ());
    assert!(
        matches!(e, Err(Error::MissingKey { ref key, .. }) if key == "TOKENS_LIST"),
        "{e:?}"
    );
}

#[test]
fn flag_beats_env_beats_file() {
    let file = [
        ("URL", "h:1"),
        ("TOKENS_LIST", "1:1"),
        ("FILTER_BUFFER", "10"),
        ("DURATION", "100"),
    ];
    let dur = |env: &[(&str, &str)], flags: &[(&'static str, &str)]| {
        resolve_with(&file, env, flags)
            .map(|(c, _)| c.duration)
            .ok()
    };
    assert_eq!(dur(&[], &[]), Some(Duration::from_secs(100)));
    assert_eq!(
        dur(&[("DURATION", "200")], &[]),
        Some(Duration::from_secs(200))
    );
    assert_eq!(
        dur(&[("DURATION", "200")], &[("DURATION", "300")]),
        Some(Duration::from_secs(300))
    );
    // An empty value counts as unset and falls through to the next layer.
    assert_eq!(
        dur(&[("DURATION", "200")], &[("DURATION", " ")]),
        Some(Duration::from_secs(200))
    );
    assert_eq!(
        dur(&[("DURATION", "")], &[]),
        Some(Duration::from_secs(100))
    );
    // A bad value in a lower layer is not read when a higher one wins.
    let r = resolve_with(
        &[("URL", "h:1"), ("TOKENS_LIST", "1:1"), ("SEED", "bad")],
        &[("SEED", "7")],
        &[],
    );
    assert_eq!(r.map(|(c, _)| c.seed).ok(), Some(7));
}

#[test]
fn only_known_keys_are_read_from_the_environment() {
    let asked = RefCell::new(Vec::<String>::new());
    let lookup = |k: &str| {
        asked.borrow_mut().push(k.to_string());
        match k {
            "URL" => Some("h:1".to_string()),
            "TOKENS_LIST" => Some("1:1".to_string()),
            _ => None,
        }
    };
    let s = Sources {
        file: vec![("NOT_A_KEY".to_string(), "x".to_string())],
        env: &lookup,
        flags: vec![],
    };
    let (c, _) = Config::from_sources(&s).expect("env supplies the required keys");
    assert_eq!(c.url, "http://h:1");
    let asked = asked.into_inner();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|k| crate::config::keys::is_known(k)),
        "{asked:?}"
    );
}

#[test]
fn filter_buffer_must_be_under_half_the_duration() {
    let e = with_file(&[("DURATION", "600"), ("FILTER_BUFFER", "300")]).map(|_| ());
    let msg = e.expect_err("2 x 300 is not < 600").to_string();
    assert!(msg.starts_with("FILTER_BUFFER=\"300\""), "{msg}");
    assert!(msg.contains("DURATION=\"600\""), "{msg}");
    let c = ok(&[("DURATION", "601"), ("FILTER_BUFFER", "300")]);
    assert_eq!(c.filter_buffer, Duration::from_secs(300));
}

#[test]
fn threshold_default_follows_its_type() {
    let c = ok(&[("THRESHOLD_TYPE", "absolute"), ("STOP_THRESHOLD", "25")]);
    assert_eq!(c.threshold, Threshold::Absolute(25.0));
    assert!(with_file(&[("STOP_THRESHOLD", "25")]).is_err());
    assert_eq!(
        ok(&[("THRESHOLD_TYPE", "Relative")]).threshold,
        Threshold::Relative(0.1)
    );
}

#[test]
fn additive_needs_one_weight_per_size() {
    let e = with_file(&[("ADDITIVE", "true"), ("TOKENS_LIST_PROPORTION", "1,2,3")]);
    let msg = e
        .map(|_| ())
        .expect_err("3 weights for 2 sizes")
        .to_string();
    assert!(msg.starts_with("TOKENS_LIST_PROPORTION=\"1,2,3\""), "{msg}");
    let c = ok(&[("ADDITIVE", "true"), ("TOKENS_LIST_PROPORTION", "1,3")]);
    assert_eq!(c.tokens_list_proportion, vec![1.0, 3.0]);
    // Without ADDITIVE the weights are not used, and the user is told.
    let (_, w) = with_file(&[("TOKENS_LIST_PROPORTION", "1,2,3")]).expect("valid");
    assert!(w.iter().any(|w| w.0.contains("ADDITIVE is false")), "{w:?}");
}

#[test]
fn confirm_and_confirm_fail() {
    // Same layer, disagreeing: an error naming both keys.
    let e = with_file(&[("CONFIRM", "none"), ("CONFIRM_FAIL", "TRUE")]).map(|_| ());
    let msg = e.expect_err("conflict").to_string();
    assert!(
        msg.contains("CONFIRM=\"none\"") && msg.contains("CONFIRM_FAIL=\"TRUE\""),
        "{msg}"
    );
    let e = with_file(&[("CONFIRM", "fail"), ("CONFIRM_FAIL", "false")]);
    assert!(matches!(e, Err(Error::Config { .. })));
    // Agreeing: fine, `both` included (it confirms fails too).
    assert_eq!(
        ok(&[("CONFIRM", "fail"), ("CONFIRM_FAIL", "true")]).confirm,
        ConfirmPolicy::Fail
    );
    assert_eq!(
        ok(&[("CONFIRM", "both"), ("CONFIRM_FAIL", "yes")]).confirm,
        ConfirmPolicy::Both
    );
    assert_eq!(
        ok(&[("CONFIRM", "none"), ("CONFIRM_FAIL", "0")]).confirm,
        ConfirmPolicy::None
    );
    // Different layers: the higher one wins, with a warning.
    let base = [
        ("URL", "h:1"),
        ("TOKENS_LIST", "1:1"),
        ("CONFIRM_FAIL", "TRUE"),
    ];
    let (c, w) = resolve_with(&base, &[], &[("CONFIRM", "none")]).expect("flag wins");
    assert_eq!(c.confirm, ConfirmPolicy::None);
    assert!(w.iter().any(|w| w.0.contains("CONFIRM wins")), "{w:?}");
    let (c, _) = resolve_with(
        &[("URL", "h:1"), ("TOKENS_LIST", "1:1"), ("CONFIRM", "both")],
        &[("CONFIRM_FAIL", "false")],
        &[],
    )
    .expect("env wins");
    assert_eq!(c.confirm, ConfirmPolicy::None);
}

#[test]
fn unknown_file_keys_warn_with_a_suggestion() {
    let (_, w) = with_file(&[
        ("DURATON", "60"),
        ("TOTALLY_UNRELATED_THING", "1"),
        ("DURATON", "5"),
    ])
    .expect("unknown keys only warn");
    let w: Vec<String> = w.into_iter().map(|w| w.0).collect();
    assert_eq!(
        w,
        vec![
            "unknown key DURATON in the env file (did you mean DURATION?)".to_string(),
            "unknown key TOTALLY_UNRELATED_THING in the env file".to_string(),
        ]
    );
    assert_eq!(suggest_key("tokens_list"), Some("TOKENS_LIST"));
    assert_eq!(suggest_key("REQ_MIN_STRAT"), Some("REQ_MIN_START"));
}

#[test]
fn a_retired_key_says_what_replaced_it() {
    let (_, w) = with_file(&[("QUEUE_GROWTH_MAX_PCT", "100")]).expect("a retired key only warns");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].0.starts_with(
            "unknown key QUEUE_GROWTH_MAX_PCT in the env file (replaced by QUEUE_GROWTH_WINDOW_PCT"
        ),
        "{}",
        w[0].0
    );
}

#[test]
fn openai_api_key_wins_and_never_shows() {
    let (c, _) = resolve_with(
        &[
            ("URL", "h:1"),
            ("TOKENS_LIST", "1:1"),
            ("OPENAI_API_KEY", SECRET),
        ],
        &[("API_KEY", "sk-other")],
        &[],
    )
    .expect("valid");
    assert_eq!(c.api_key.as_ref().map(Secret::expose), Some(SECRET));
    let debug = format!("{c:?} {c:#?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("***"));
    // An error raised while a key is set does not carry it.
    let e = with_file(&[
        ("API_KEY", SECRET),
        ("CONFIRM", "none"),
        ("CONFIRM_FAIL", "1"),
    ])
    .map(|_| ())
    .expect_err("conflict");
    assert!(!e.to_string().contains(SECRET) && !format!("{e:?}").contains(SECRET));
}

#[test]
fn env_file_loads_and_reports_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-file.env");
    match Config::load(Some(&missing), vec![]) {
        Err(Error::EnvFile { path, reason }) => {
            assert_eq!(path, missing);
            assert!(!reason.is_empty());
        }
        other => panic!("expected EnvFile, got {other:?}"),
    }

    let good = temp_file(
        "good.env",
        "# comment\nURL=h:7\nTOKENS_LIST=\"8:8, 16:16\"\nDURATION=90s\nFILTER_BUFFER=10\nDURATON=1\n",
    );
    let (c, w) =
        Config::load(Some(good.path()), vec![("DURATION", "120".to_string())]).expect("valid");
    assert_eq!(c.sizes.len(), 2);
    assert_eq!(
        c.duration,
        Duration::from_secs(120),
        "the flag beats the file"
    );
    let label = good.path().display().to_string();
    assert!(
        w.iter()
            .any(|w| w.0 == format!("unknown key DURATON in {label} (did you mean DURATION?)")),
        "{w:?}"
    );

    let bad = temp_file(
        "bad.env",
        "URL=h:7\nOPENAI_API_KEY='sk-very-secret-123\nX=1\n",
    );
    match Config::load(Some(bad.path()), vec![]) {
        Err(e @ Error::EnvFile { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&bad.path().display().to_string()), "{msg}");
            assert!(msg.contains("line 2"), "{msg}");
            assert!(msg.contains("OPENAI_API_KEY=***"), "{msg}");
            assert!(
                !msg.contains(SECRET) && !format!("{e:?}").contains(SECRET),
                "{msg}"
            );
        }
        other => panic!("expected EnvFile, got {other:?}"),
    }

    // An open quote on an ordinary line swallows the next lines; the secret below must not show.
    let bad = temp_file(
        "open-quote.env",
        "MODEL='llama\nOPENAI_API_KEY=sk-very-secret-123\n",
    );
    match Config::load(Some(bad.path()), vec![]) {
        Err(e @ Error::EnvFile { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("line 1") && msg.contains("MODEL='llama"),
                "{msg}"
            );
            assert!(
                !msg.contains(SECRET) && !format!("{e:?}").contains(SECRET),
                "{msg}"
            );
        }
        other => panic!("expected EnvFile, got {other:?}"),
    }

    let bad = temp_file("bad-line.env", "URL=h:1\nNOT A PAIR\n");
    let msg = Config::load(Some(bad.path()), vec![])
        .map(|_| ())
        .expect_err("bad line")
        .to_string();
    assert!(
        msg.contains("line 2 (\"NOT A PAIR\") cannot be parsed at column"),
        "{msg}"
    );
}

#[test]
fn env_example_is_valid_and_documents_every_key() {
    let example = include_str!("../../../.env.example");
    let docs = include_str!("../../../docs/reference/keys.md");
    for key in KEYS.iter().map(|k| k.name) {
        assert!(
            example.contains(&format!("{key}=")),
            ".env.example lacks {key}"
        );
        assert!(
            docs.contains(&format!("| `{key}` |")),
            "docs/reference/keys.md lacks {key}"
        );
    }
    let path = temp_file("example.env", example);
    let pairs = load::read_env_file(path.path()).expect(".env.example parses");
    let none = |_: &str| None;
    let (c, w) = Config::from_sources(&Sources {
        file: pairs,
        env: &none,
        flags: vec![],
    })
    .expect(".env.example is a valid configuration");
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.confirm, ConfirmPolicy::Fail);
}

/// A required key that is missing names a misspelt key the file does set, and says when no
/// env file was given at all (a newcomer's `mst-search` next to a `.env`).
#[test]
fn a_missing_required_key_points_at_its_misspelling_or_the_missing_env_file() {
    let err = resolve_with(&[("URL", "h:1"), ("TOKEN_LIST", "8:8")], &[], &[])
        .expect_err("TOKENS_LIST is missing");
    assert!(
        err.to_string()
            .contains("the env file sets TOKEN_LIST: did you mean TOKENS_LIST?"),
        "{err}"
    );
    let none = |_: &str| None;
    let err = super::super::load::resolve(
        &Sources {
            file: Vec::new(),
            env: &none,
            flags: Vec::new(),
        },
        "",
    )
    .expect_err("nothing set");
    assert!(err.to_string().contains("no --env FILE was given"), "{err}");
}

/// A refused run prints no warnings, so a misspelt key that explains the refusal (an SLO key
/// `LOAD=users` cannot see) goes with the error.
#[test]
fn a_refusal_names_the_unknown_keys_that_may_explain_it() {
    let err = resolve_with(
        &[
            ("URL", "h:1"),
            ("TOKENS_LIST", "8:8"),
            ("LOAD", "users"),
            ("SLO_TTFT_P95_MS", "200"),
        ],
        &[],
        &[],
    )
    .expect_err("no SLO key it knows")
    .to_string();
    assert!(
        err.contains("LOAD") && err.contains("unknown key SLO_TTFT_P95_MS"),
        "{err}"
    );
    assert!(err.contains("did you mean SLO_TTFT_P"), "{err}");
}
