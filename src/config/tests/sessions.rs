//! `SESSION_TURNS`: one turn is independent requests, more turns a sessions plan; bad counts and
//! the combinations sessions cannot run with are refused naming the keys.

use super::*;

#[test]
fn one_turn_is_the_default_and_plans_no_sessions() {
    let c = ok(&[]);
    assert_eq!(c.session_turns, 1);
    assert!(c.sessions_plan().is_none());
    assert!(ok(&[("SESSION_TURNS", "1")]).sessions_plan().is_none());
}

#[test]
fn several_turns_with_chat_plan_sessions() {
    let c = ok(&[("API", "chat"), ("SESSION_TURNS", "4")]);
    let plan = c.sessions_plan().expect("a sessions plan");
    assert_eq!(plan.turns, 4);
}

#[test]
fn session_turns_must_be_a_whole_number_of_at_least_one() {
    for bad in ["0", "-1", "2.5", "many", "101", "99999999999"] {
        let err = with_file(&[("API", "chat"), ("SESSION_TURNS", bad)])
            .expect_err(bad)
            .to_string();
        assert!(
            err.contains("SESSION_TURNS") && err.contains(bad) && err.contains("whole number"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn sessions_without_chat_are_refused_naming_both_keys() {
    for api in [None, Some("completions")] {
        let mut pairs = vec![("SESSION_TURNS", "3")];
        pairs.extend(api.map(|a| ("API", a)));
        let err = with_file(&pairs)
            .expect_err("sessions need chat")
            .to_string();
        assert!(
            err.contains("SESSION_TURNS") && err.contains("API=chat") && err.contains("3"),
            "{err}"
        );
    }
}

#[test]
fn sessions_refuse_an_additive_mix_and_a_prompts_file() {
    let err = with_file(&[
        ("API", "chat"),
        ("SESSION_TURNS", "2"),
        ("TOKENS_LIST", "100:10,200:10"),
        ("ADDITIVE", "true"),
    ])
    .expect_err("additive")
    .to_string();
    assert!(
        err.contains("SESSION_TURNS") && err.contains("ADDITIVE"),
        "{err}"
    );
    let prompts = temp_file("prompts.jsonl", "{\"text\": \"hello there\"}\n");
    let path = prompts.path().display().to_string();
    let err = with_file(&[
        ("API", "chat"),
        ("SESSION_TURNS", "2"),
        ("PROMPTS_FILE", &path),
    ])
    .expect_err("prompts file")
    .to_string();
    assert!(
        err.contains("SESSION_TURNS") && err.contains("PROMPTS_FILE"),
        "{err}"
    );
}
