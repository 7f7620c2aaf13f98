//! How the simulator frames server-sent events on the wire, so a client's SSE parser can be
//! tested against every framing the spec allows and real servers use: LF, CRLF or bare CR line
//! endings, `data:` with or without the space, comment lines between events, and one payload
//! spread over two `data:` lines.
//!
//! The default framing (`data: {json}\n\n`) is vLLM's; everything else is an option.

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

/// The line ending of every SSE line, including the blank line that ends an event. All three
/// end a line in the SSE spec (WHATWG HTML, "event stream interpretation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// `\n` (vLLM, SGLang, llama.cpp).
    #[default]
    Lf,
    /// `\r\n` (some proxies and ASP.NET-style servers).
    Crlf,
    /// A bare `\r`.
    Cr,
}

impl LineEnding {
    fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::Crlf => b"\r\n",
            LineEnding::Cr => b"\r",
        }
    }
}

impl FromStr for LineEnding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lf" => Ok(LineEnding::Lf),
            "crlf" => Ok(LineEnding::Crlf),
            "cr" => Ok(LineEnding::Cr),
            _ => Err(format!("{s:?}: expected lf, crlf or cr")),
        }
    }
}

impl fmt::Display for LineEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineEnding::Lf => "lf",
            LineEnding::Crlf => "crlf",
            LineEnding::Cr => "cr",
        })
    }
}

/// How a failure in the middle of a 200 stream is reported (see
/// `FaultConfig::fault_error_event_rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorEventStyle {
    /// `data: {"error": {…}}` (vLLM, SGLang).
    #[default]
    Json,
    /// `event: error` then `data: {"error": {…}}` (an SSE event type).
    Event,
    /// `error: {"code":500,"message":…,"type":"server_error"}`: llama.cpp's server writes the
    /// event name as the field name (`server_sent_event(sink, "error", error_data)` in
    /// `examples/server/server.cpp`, 2024–2025), with `format_error_response`'s object.
    Field,
}

impl FromStr for ErrorEventStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(ErrorEventStyle::Json),
            "event" => Ok(ErrorEventStyle::Event),
            "field" => Ok(ErrorEventStyle::Field),
            _ => Err(format!("{s:?}: expected json, event or field")),
        }
    }
}

impl fmt::Display for ErrorEventStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorEventStyle::Json => "json",
            ErrorEventStyle::Event => "event",
            ErrorEventStyle::Field => "field",
        })
    }
}

/// The framing options of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Framing {
    pub line_ending: LineEnding,
    /// `data:{…}` instead of `data: {…}`.
    pub no_space: bool,
    /// A `: ping` comment event before every event but the first.
    pub comments: bool,
    /// Each JSON payload as two `data:` lines, split after a comma between members.
    pub split_data: bool,
}

impl Framing {
    /// Writes one event whose data is `payload`, with the comment before it when asked for
    /// (`first`: the stream's first event, which gets none).
    pub fn data_event(&self, out: &mut BytesMut, payload: &[u8], first: bool) {
        self.named_event(out, None, payload, first);
    }

    /// [`Framing::data_event`] with an `event: NAME` line before the data.
    pub fn named_event(&self, out: &mut BytesMut, name: Option<&str>, payload: &[u8], first: bool) {
        let eol = self.line_ending.bytes();
        self.comment(out, first);
        if let Some(name) = name {
            out.put_slice(b"event:");
            self.space(out);
            out.put_slice(name.as_bytes());
            out.put_slice(eol);
        }
        let split = if self.split_data {
            split_point(payload)
        } else {
            None
        };
        match split {
            Some(i) => {
                self.data_line(out, &payload[..i]);
                self.data_line(out, &payload[i..]);
            }
            None => self.data_line(out, payload),
        }
        out.put_slice(eol);
    }

    /// Writes an event made of one `FIELD: payload` line (llama.cpp's `error:`).
    pub fn field_event(&self, out: &mut BytesMut, field: &str, payload: &[u8], first: bool) {
        let eol = self.line_ending.bytes();
        self.comment(out, first);
        out.put_slice(field.as_bytes());
        out.put_u8(b':');
        self.space(out);
        out.put_slice(payload);
        out.put_slice(eol);
        out.put_slice(eol);
    }

    fn data_line(&self, out: &mut BytesMut, part: &[u8]) {
        out.put_slice(b"data:");
        self.space(out);
        out.put_slice(part);
        out.put_slice(self.line_ending.bytes());
    }

    fn comment(&self, out: &mut BytesMut, first: bool) {
        if self.comments && !first {
            let eol = self.line_ending.bytes();
            out.put_slice(b": ping");
            out.put_slice(eol);
            out.put_slice(eol);
        }
    }

    fn space(&self, out: &mut BytesMut) {
        if !self.no_space {
            out.put_u8(b' ');
        }
    }
}

/// Where to cut a JSON payload into two `data:` lines: just after the first comma at or past its
/// middle that separates members or elements (outside any string), so the newline the parser
/// puts between the lines is JSON whitespace. `None` when there is no such comma.
fn split_point(json: &[u8]) -> Option<usize> {
    let middle = json.len() / 2;
    let (mut in_string, mut escaped) = (false, false);
    let mut last_before = None;
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' if i >= middle => return Some(i + 1),
            b',' => last_before = Some(i + 1),
            _ => {}
        }
    }
    last_before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(f: Framing, payload: &str, first: bool) -> String {
        let mut out = BytesMut::new();
        f.data_event(&mut out, payload.as_bytes(), first);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn default_framing_is_vllms() {
        assert_eq!(
            framed(Framing::default(), r#"{"a":1}"#, false),
            "data: {\"a\":1}\n\n"
        );
    }

    #[test]
    fn every_option_changes_only_its_part() {
        let f = Framing {
            line_ending: LineEnding::Cr,
            no_space: true,
            comments: true,
            split_data: false,
        };
        assert_eq!(framed(f, "[DONE]", true), "data:[DONE]\r\r");
        assert_eq!(framed(f, "[DONE]", false), ": ping\r\rdata:[DONE]\r\r");
        let f = Framing {
            line_ending: LineEnding::Crlf,
            split_data: true,
            ..Framing::default()
        };
        assert_eq!(
            framed(f, r#"{"a":"x,y","b":2,"c":3}"#, true),
            "data: {\"a\":\"x,y\",\"b\":2,\r\ndata: \"c\":3}\r\n\r\n"
        );
    }

    #[test]
    fn split_joined_with_a_newline_is_the_same_json() {
        let payload = r#"{"id":"a,\"b,","choices":[{"text":" x,","n":[1,2]}],"u":null}"#;
        let i = split_point(payload.as_bytes()).expect("the payload has structural commas");
        let joined = format!("{}\n{}", &payload[..i], &payload[i..]);
        let a: serde_json::Value = serde_json::from_str(payload).expect("valid JSON");
        let b: serde_json::Value = serde_json::from_str(&joined).expect("still valid JSON");
        assert_eq!(a, b);
        assert_eq!(split_point(b"{\"choices\":null}"), None);
        assert_eq!(split_point(b"[DONE]"), None);
    }

    #[test]
    fn option_names_parse_and_print() {
        for s in ["lf", "crlf", "cr"] {
            assert_eq!(s.parse::<LineEnding>().map(|l| l.to_string()), Ok(s.into()));
        }
        for s in ["json", "event", "field"] {
            assert_eq!(
                s.parse::<ErrorEventStyle>().map(|l| l.to_string()),
                Ok(s.into())
            );
        }
        assert!("LF\n".parse::<LineEnding>().is_err());
        assert!("xml".parse::<ErrorEventStyle>().is_err());
    }
}
