//! An incremental Server-Sent Events parser that follows the WHATWG HTML standard's "event
//! stream interpretation" exactly, because event *timing* is what this tool measures.
//!
//! Why not a crate: the parser we used (`eventsource-stream`) waits for the byte after a bare CR
//! to learn whether it is a CRLF, so a server that ends its lines with CR had every event
//! dispatched only when the *next* event's bytes arrived — a whole inter-token gap late. The
//! standard lets a parser decide at once: a CR ends the line, and an LF that directly follows it
//! is skipped. This parser dispatches an event at the very byte of its blank line.
//!
//! Source: <https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>
//! — lines end in CRLF, LF or CR; a line starting with `:` is a comment; `field: value` with at
//! most one space stripped after the colon; a line without a colon is a field with an empty
//! value; `data` lines are joined with LF; an empty line dispatches the event unless its data
//! buffer is empty; `event` sets the type; `id` (without NUL) sets the last event id; `retry`
//! and unknown fields are ignored; a leading U+FEFF is skipped; an event cut off by the end of
//! the stream is not dispatched.
//!
//! One extension, named here because the standard ignores the field: a line `error: …` is kept
//! as [`Event::error`], and an event that carries one is dispatched even with no data. llama.cpp's
//! server reports a failure inside a stream that way (`error: {"code":…,"message":…}`).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event` field; empty means the default type, `message`.
    pub event: String,
    /// The `data` lines joined with LF (no trailing LF).
    pub data: String,
    /// The last `id` seen so far in the stream (it persists across events, as the standard says).
    pub id: Option<String>,
    /// The value of an `error` field, when the event had one (see the module header).
    pub error: Option<String>,
}

impl Event {
    /// Whether the server marked this event as an error: type `error`, or an `error` field.
    pub fn is_error(&self) -> bool {
        self.error.is_some() || self.event == "error"
    }
}

/// Incremental parser: feed it the body's bytes as they arrive; it returns each event at the
/// byte that completes it.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous byte was a CR: an LF right after it belongs to the same line ending.
    after_cr: bool,
    /// Whether the first byte of the stream has been looked at (for the BOM).
    started: bool,
    data: String,
    /// Whether any `data` field was seen for the current event (the buffer may be empty text).
    has_data: bool,
    event: String,
    error: Option<String>,
    last_id: Option<String>,
    /// Comment lines seen, for diagnostics.
    comments: u64,
}

/// The UTF-8 byte-order mark, skipped at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feed the next bytes of the body; every event they complete is pushed to `out`, in order.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        if self.started {
            self.consume(bytes, out);
            return;
        }
        // The BOM may arrive split over several reads: hold bytes until we can tell.
        self.line.extend_from_slice(bytes);
        if self.line.len() < BOM.len() && BOM.starts_with(&self.line) {
            return;
        }
        self.started = true;
        let mut pending = std::mem::take(&mut self.line);
        if pending.starts_with(BOM) {
            pending.drain(..BOM.len());
        }
        self.consume(&pending, out);
    }

    fn consume(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) {
        while !bytes.is_empty() {
            bytes = self.step(bytes, out);
        }
    }

    /// Consume bytes up to and including the next line ending (or all of them).
    fn step<'b>(&mut self, bytes: &'b [u8], out: &mut Vec<Event>) -> &'b [u8] {
        let mut rest = bytes;
        if self.after_cr {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
                if rest.is_empty() {
                    return rest;
                }
            }
        }
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                self.line.extend_from_slice(rest);
                &[]
            }
            Some(i) => {
                self.line.extend_from_slice(&rest[..i]);
                self.after_cr = rest[i] == b'\r';
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out);
                &rest[i + 1..]
            }
        }
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                self.data.push_str(&value);
                self.data.push('\n');
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            b"id" if !value.contains('\0') => self.last_id = Some(value.into_owned()),
            b"error" => self.error = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let error = self.error.take();
        let event = std::mem::take(&mut self.event);
        if !self.has_data && error.is_none() {
            self.data.clear();
            return;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        out.push(Event {
            event,
            data,
            id: self.last_id.clone(),
            error,
        });
    }

    /// Whether the stream stopped in the middle of an event (bytes or fields not yet
    /// dispatched): at the end of a body such an event is discarded, as the standard says.
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || self.has_data || self.error.is_some() || !self.event.is_empty()
    }

    /// End of the body: the event the standard discards because its blank line never came (a
    /// last unterminated line included), for a caller that wants to know what it was — e.g. a
    /// final `data: [DONE]` a server wrote without its blank line. None when nothing was pending.
    pub fn finish(mut self) -> Option<Event> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            let mut ignored = Vec::new();
            self.process_line(&line, &mut ignored);
        }
        let mut out = Vec::new();
        self.dispatch(&mut out);
        out.pop()
    }

    /// Comment lines seen so far (`: ping` keep-alives and the like).
    pub fn comments(&self) -> u64 {
        self.comments
    }
}

#[cfg(test)]
mod tests;
