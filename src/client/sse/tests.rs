//! The parser against the examples of the WHATWG standard's "Server-sent events" section
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html>), every line ending it
//! allows, and arbitrary splits of the bytes.

use super::*;

fn parse_all(body: &[u8]) -> Vec<Event> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.feed(body, &mut out);
    out
}

/// The same events whether the bytes arrive at once or one at a time.
fn parse_bytewise(body: &[u8]) -> Vec<Event> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for b in body {
        p.feed(std::slice::from_ref(b), &mut out);
    }
    out
}

fn data(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

#[test]
fn spec_example_multi_line_data_is_joined_with_lf() {
    let body = b"data: YHOO\ndata: +2\ndata: 10\n\n";
    assert_eq!(data(&parse_all(body)), ["YHOO\n+2\n10"]);
    assert_eq!(parse_bytewise(body), parse_all(body));
}

#[test]
fn spec_example_comments_ids_and_one_stripped_space() {
    let body = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
    let ev = parse_all(body);
    assert_eq!(data(&ev), ["first event", "second event", " third event"]);
    assert_eq!(ev[0].id.as_deref(), Some("1"));
    // `id` with no colon sets the last event id to the empty string, and it persists.
    assert_eq!(ev[1].id.as_deref(), Some(""));
    assert_eq!(ev[2].id.as_deref(), Some(""));
    let mut p = SseParser::new();
    p.feed(body, &mut Vec::new());
    assert_eq!(p.comments(), 1);
}

#[test]
fn spec_example_empty_data_lines_and_a_final_unterminated_event() {
    let body = b"data\n\ndata\ndata\n\ndata:";
    let mut p = SseParser::new();
    let mut ev = Vec::new();
    p.feed(body, &mut ev);
    assert_eq!(data(&ev), ["", "\n"]);
    // The last `data:` never saw its blank line: not dispatched, but visible as partial.
    assert!(p.has_partial_event());
    assert_eq!(p.finish().map(|e| e.data), Some(String::new()));
    let mut p = SseParser::new();
    p.feed(b"data: a\n\ndata: [DONE]", &mut Vec::new());
    assert_eq!(p.finish().map(|e| e.data).as_deref(), Some("[DONE]"));
    let mut p = SseParser::new();
    p.feed(b"data: a\n\n", &mut Vec::new());
    assert_eq!(p.finish(), None);
}

#[test]
fn spec_example_space_after_colon_is_optional() {
    assert_eq!(
        data(&parse_all(b"data:test\n\ndata: test\n\n")),
        ["test", "test"]
    );
}

#[test]
fn crlf_lf_and_bare_cr_line_endings_give_the_same_events() {
    let lf = b"event: add\ndata: {\"a\":1}\n\ndata: [DONE]\n\n".to_vec();
    let crlf: Vec<u8> = String::from_utf8(lf.clone())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let cr: Vec<u8> = String::from_utf8(lf.clone())
        .unwrap()
        .replace('\n', "\r")
        .into_bytes();
    let want = parse_all(&lf);
    assert_eq!(want.len(), 2);
    assert_eq!(want[0].event, "add");
    for body in [&crlf, &cr] {
        assert_eq!(parse_all(body), want);
        assert_eq!(parse_bytewise(body), want);
    }
}

/// The regression that replaced the old crate: an event whose blank line is a bare CR is
/// dispatched by the read that carries that CR, not when later bytes arrive.
#[test]
fn an_event_ending_in_bare_cr_is_dispatched_at_once() {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.feed(b"data: one\r\r", &mut out);
    assert_eq!(data(&out), ["one"]);
    // A following LF (a CRLF split across reads) is part of that line ending, not a blank line.
    out.clear();
    p.feed(b"\ndata: two\r\n\r\n", &mut out);
    assert_eq!(data(&out), ["two"]);
    assert!(!p.has_partial_event());
}

#[test]
fn an_lf_event_is_dispatched_at_its_blank_line() {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.feed(b"data: a\n", &mut out);
    assert!(out.is_empty());
    assert!(p.has_partial_event());
    p.feed(b"\n", &mut out);
    assert_eq!(data(&out), ["a"]);
}

#[test]
fn error_type_and_llama_cpp_error_field_are_errors() {
    let ev = parse_all(b"event: error\ndata: {\"message\":\"boom\"}\n\n");
    assert!(ev[0].is_error());
    // llama.cpp: an `error:` field with no data still dispatches.
    let ev = parse_all(b"error: {\"code\":500,\"message\":\"boom\"}\n\n");
    assert_eq!(ev.len(), 1);
    assert!(ev[0].is_error());
    assert_eq!(
        ev[0].error.as_deref(),
        Some("{\"code\":500,\"message\":\"boom\"}")
    );
    assert!(!parse_all(b"data: {}\n\n")[0].is_error());
}

#[test]
fn unknown_fields_and_retry_are_ignored_and_an_event_without_data_is_not_dispatched() {
    let ev = parse_all(b"retry: 100\nfoo: bar\n\nevent: x\n\ndata: y\n\n");
    assert_eq!(data(&ev), ["y"]);
    // The type of the undispatched event does not leak into the next one.
    assert_eq!(ev[0].event, "");
}

#[test]
fn a_byte_order_mark_is_skipped_even_when_split() {
    let body = b"\xEF\xBB\xBFdata: x\n\n";
    assert_eq!(data(&parse_all(body)), ["x"]);
    assert_eq!(data(&parse_bytewise(body)), ["x"]);
}

#[test]
fn multi_byte_utf8_split_across_reads_is_kept_whole() {
    let body = "data: héllo 漢字\n\n".as_bytes();
    assert_eq!(data(&parse_bytewise(body)), ["héllo 漢字"]);
}
