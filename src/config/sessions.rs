//! Multi-turn sessions (`SESSION_TURNS`): the key and the combinations it cannot run with,
//! checked before any traffic. Kept apart from the general layering in [`super::load`] because
//! the key is checked against `API`, `ADDITIVE` and `PROMPTS_FILE`.

use super::load::Layers;
use super::parse::parse_int_where;
use crate::client::Api;
use crate::error::{Error, Result};

/// The most turns a session may have (results.csv has six `TURN_<k>_…` columns per turn).
pub(super) const MAX_TURNS: u32 = 100;

/// `SESSION_TURNS`: turns per session, 1 (the default) for independent requests. More than one
/// needs `API=chat` (a conversation is a list of messages) and the generated prompts: an
/// `ADDITIVE` mix would change the size within a session, and a `PROMPTS_FILE` line is a
/// whole prompt of its own, not one user message of a conversation.
pub(super) fn resolve_session_turns(
    l: &Layers,
    api: Api,
    additive: bool,
    prompts_file: bool,
) -> Result<u32> {
    let turns = l.or_default("SESSION_TURNS", |k, v| {
        parse_int_where(
            k,
            v,
            "a whole number from 1 (independent requests) to 100",
            |x: u32| (1..=MAX_TURNS).contains(&x),
        )
    })?;
    if turns == 1 {
        return Ok(1);
    }
    let refuse = |why: String| Err(Error::config("SESSION_TURNS", turns.to_string(), why));
    if api != Api::Chat {
        return refuse(format!(
            "1 with API={}: multi-turn sessions send the conversation as chat messages; set \
             API=chat (or SESSION_TURNS=1)",
            l.shown("API", "completions")
        ));
    }
    if additive {
        return refuse(
            "1 with ADDITIVE=TRUE: a session keeps one size for all its turns; search the sizes \
             one at a time"
                .into(),
        );
    }
    if prompts_file {
        return refuse(
            "1 with PROMPTS_FILE: a session's turns are generated user messages of the size's \
             input length; unset PROMPTS_FILE"
                .into(),
        );
    }
    Ok(turns)
}
