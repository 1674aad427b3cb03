//! Fuzz-style properties (proptest) of the two parsers that read untrusted
//! bytes, `net::http::parse` and `net::frame::WsReader` (issue 11, Tests,
//! last paragraph): for arbitrary bytes they never panic, never allocate
//! beyond the announced bounds (a counting global allocator, per thread),
//! and agree with a reference: httparse's own verdict plus duet's stricter
//! rules for HTTP (contract section 7 rule 4 for Content-Length), and
//! tungstenite's `FrameHeader::parse` plus the RFC 6455 rules for frames.
//!
//! `tests/properties.rs` covers splits, pipelining and round trips; this
//! file is about verdicts and memory. `PROPTEST_CASES` tunes the case count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::io::Cursor;

use duet::net::frame::{FrameError, MAX_MESSAGE, Stop, WsEvent, WsReader};
use duet::net::http::{self, HttpError, MAX_BODY, MAX_HEAD, Parsed};
use proptest::prelude::*;
use proptest::sample::Index;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

// ================================================================ allocation counting

/// What this thread asked the allocator for while counting was on: bytes
/// live now and at most (relative to the last reset), allocations made.
#[derive(Debug, Clone, Copy)]
struct Tally {
    on: bool,
    live: isize,
    peak: isize,
    allocs: usize,
}

const ZERO: Tally = Tally { on: false, live: 0, peak: 0, allocs: 0 };

thread_local! {
    // Const-initialised and without Drop: usable from inside the allocator.
    static TALLY: Cell<Tally> = const { Cell::new(ZERO) };
}

/// The system allocator, counting per thread so parallel tests don't mix
/// (`alloc_zeroed` is the default one: it calls `alloc`).
struct Counting;

fn note(delta: isize, new_block: bool) {
    TALLY.with(|t| {
        let mut v = t.get();
        if v.on {
            v.live += delta;
            v.peak = v.peak.max(v.live);
            v.allocs += usize::from(new_block);
            t.set(v);
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize, true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize), false);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize, true);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn reset_tally() {
    TALLY.with(|t| t.set(ZERO));
}

fn tally() -> Tally {
    TALLY.with(Cell::get)
}

/// Restores the previous counting state when dropped (also on a panic).
struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        let on = self.0;
        TALLY.with(|t| t.set(Tally { on, ..t.get() }));
    }
}

/// Runs `f` with counting switched `on` or off.
fn counting<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(TALLY.with(|t| t.replace(Tally { on, ..t.get() })).on);
    f()
}

// ================================================================ helpers

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Bytes shown as escaped text (long middles elided) in failure reports.
#[derive(Clone)]
struct Bytes(Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        if b.len() <= 600 {
            return write!(f, "{} bytes \"{}\"", b.len(), b.escape_ascii());
        }
        let (head, tail) = (&b[..400], &b[b.len() - 120..]);
        write!(f, "{} bytes \"{}\" ... \"{}\"", b.len(), head.escape_ascii(), tail.escape_ascii())
    }
}

/// `bytes` cut at the (sorted, de-duplicated) `cuts`.
fn chunks<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut prev = 0;
    for a in at {
        out.push(&bytes[prev..a]);
        prev = a;
    }
    out.push(&bytes[prev..]);
    out
}

/// `n` bytes of a repeating pattern (cheap large payloads).
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| seed.wrapping_add((i % 251) as u8)).collect()
}

// ================================================================ HTTP: reference and bounds

/// One `http::parse` call may hold the request's strings (path, query,
/// token, origin, key, version: disjoint pieces of a head of at most
/// MAX_HEAD bytes), the body copy (at most MAX_BODY) and the boxed
/// `Request`; httparse works in the caller's buffer and errors carry only
/// `&'static str`, so nothing else. The slack is the box plus a margin.
const PARSE_SLACK: usize = size_of::<http::Request>() + 64;
/// The announced bound for one call, whatever the input.
const PARSE_BOUND: usize = MAX_HEAD + MAX_BODY + PARSE_SLACK;

/// What `http::parse` must answer.
#[derive(Debug, PartialEq)]
enum Verdict {
    Incomplete,
    /// Refused with one of these statuses.
    Refused(&'static [u16]),
    /// Bytes used, method, path, query, body.
    Complete(usize, http::Method, String, String, Bytes),
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.0 == other.0
    }
}

fn method_named(m: &str) -> http::Method {
    use http::Method::*;
    // RFC 9110 9.1: method names are case-sensitive.
    match m {
        "GET" => Get,
        "POST" => Post,
        "DELETE" => Delete,
        "HEAD" => Head,
        "OPTIONS" => Options,
        "PUT" => Put,
        "PATCH" => Patch,
        _ => Other,
    }
}

/// httparse's verdict (same 48-header array, default options), then what
/// duet refuses on top of it: a head over MAX_HEAD (431, as is more than
/// 48 headers), a non-UTF-8 header value, any Transfer-Encoding, a
/// Content-Length that is not ASCII digits only (httparse has already
/// trimmed SP/HTAB around it; anything else, `+`, a Unicode space, a list,
/// is refused: rule 4), two different lengths (400), a length over
/// MAX_BODY (413; an all-digits value too large for usize may be 400 or 413).
fn reference(buf: &[u8]) -> Verdict {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Err(httparse::Error::TooManyHeaders) => return Verdict::Refused(&[431]),
        Err(_) => return Verdict::Refused(&[400]),
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Verdict::Refused(&[431]),
        Ok(httparse::Status::Partial) => return Verdict::Incomplete,
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => return Verdict::Refused(&[431]),
        Ok(httparse::Status::Complete(n)) => n,
    };
    // Some(value) once a length is seen; a value too large for u64 is None.
    let mut length: Option<Option<u64>> = None;
    for h in req.headers.iter() {
        let is_length = h.name.eq_ignore_ascii_case("content-length");
        let refused = std::str::from_utf8(h.value).is_err()
            || h.name.eq_ignore_ascii_case("transfer-encoding")
            || is_length && (h.value.is_empty() || !h.value.iter().all(u8::is_ascii_digit));
        if refused {
            return Verdict::Refused(&[400]);
        }
        if is_length {
            let n = std::str::from_utf8(h.value).ok().and_then(|v| v.parse::<u64>().ok());
            if length.is_some_and(|m| m != n) {
                return Verdict::Refused(&[400]);
            }
            length = Some(n);
        }
    }
    let body_len = match length {
        None => 0,
        Some(None) => return Verdict::Refused(&[400, 413]),
        Some(Some(n)) if n > MAX_BODY as u64 => return Verdict::Refused(&[413]),
        Some(Some(n)) => n,
    };
    let used = head + body_len as usize;
    if buf.len() < used {
        return Verdict::Incomplete;
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let method = method_named(req.method.unwrap_or(""));
    Verdict::Complete(used, method, path.to_owned(), query.to_owned(), Bytes(buf[head..used].to_vec()))
}

/// duet's answer in the reference's terms.
fn verdict_of(got: Result<Parsed, HttpError>) -> (Verdict, u16) {
    match got {
        Ok(Parsed::Incomplete) => (Verdict::Incomplete, 0),
        Ok(Parsed::Complete(r, n)) => {
            (Verdict::Complete(n, r.method(), r.path.clone(), r.query.clone(), Bytes(r.body.clone())), 0)
        }
        Err(e) => (Verdict::Refused(&[]), e.status()),
    }
}

fn check_against_reference(buf: &Bytes) -> Result<(), TestCaseError> {
    let want = reference(&buf.0);
    match (verdict_of(http::parse(&buf.0)), &want) {
        ((Verdict::Refused(_), status), Verdict::Refused(ok)) => {
            prop_assert!(ok.contains(&status), "status {status}, reference {ok:?} for {buf:?}");
        }
        ((got, _), want) => prop_assert_eq!(&got, want, "for {:?}", buf),
    }
    Ok(())
}

// ================================================================ HTTP: generators

/// A request close to valid: every part can be pushed past a limit.
#[derive(Debug, Clone)]
struct ReqSpec {
    method: String,
    target: String,
    v10: bool,
    /// Whole header lines, without CRLF.
    headers: Vec<Bytes>,
    lengths: Vec<Length>,
    body: Bytes,
    /// Pad the head with an `X-Pad` header to this many bytes.
    pad_to: Option<usize>,
}

impl ReqSpec {
    fn bytes(&self) -> Vec<u8> {
        let mut head =
            format!("{} {} HTTP/1.{}\r\n", self.method, self.target, u8::from(!self.v10)).into_bytes();
        for line in &self.headers {
            head.extend_from_slice(&line.0);
            head.extend_from_slice(b"\r\n");
        }
        for l in &self.lengths {
            let value = match l {
                Length::Body(before, after) => format!("{before}{}{after}", self.body.0.len()),
                Length::Value(v) => v.clone(),
            };
            head.extend_from_slice(format!("Content-Length: {value}\r\n").as_bytes());
        }
        if let Some(n) = self.pad_to {
            let pad = n.saturating_sub(head.len() + 11);
            head.extend_from_slice(format!("X-Pad: {}\r\n", "p".repeat(pad)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(&self.body.0);
        head
    }
}

/// Header lines routing reads, and the Transfer-Encoding duet refuses.
const KNOWN_HEADERS: &str = "Host: example|Connection: close|Connection: keep-alive, Upgrade|\
    Upgrade: websocket|Authorization: Bearer abc.def|authorization: Basic Zm9v|Origin: https://duet.example|\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==|Sec-WebSocket-Version: 13|Transfer-Encoding: chunked|\
    transfer-encoding: identity";

fn header() -> impl Strategy<Value = Bytes> {
    fn bytes(prefix: &str, v: &[u8]) -> Bytes {
        Bytes([prefix.as_bytes(), v].concat())
    }
    prop_oneof![
        8 => "X-[A-Za-z-]{1,12}: [ -~]{0,40}".prop_map(|l| Bytes(l.into_bytes())),
        5 => prop::sample::select(KNOWN_HEADERS.split('|').collect::<Vec<_>>()).prop_map(|l| bytes(l, b"")),
        // Non-ASCII UTF-8, obs-text (not UTF-8), and anything at all.
        1 => "\\PC{0,8}".prop_map(|v| bytes("X-U: ", v.as_bytes())),
        1 => prop_oneof![prop::collection::vec(0x80u8..=0xFF, 1..6), prop::collection::vec(any::<u8>(), 0..12)]
            .prop_map(|v| bytes("X-Any: ", &v)),
    ]
}

/// A Content-Length value: the body's length with affixes, or its own.
#[derive(Debug, Clone)]
enum Length {
    Body(&'static str, &'static str),
    Value(String),
}

/// Content-Length values duet has refused or accepted correctly all along:
/// digits (right, wrong, leading zeros, huge), SP/HTAB around them (trimmed
/// by httparse), lists, signs of the minus kind, hex, exponents, nothing.
fn plain_length() -> BoxedStrategy<Length> {
    let odd = "0|16384|16385|99999999999999999999999|18446744073709551616|-1|0x10|2,2|1, 1|1e3||2 2";
    prop_oneof![
        6 => Just(Length::Body("", "")),
        1 => Just(Length::Body("0", "")),
        1 => Just(Length::Body(" ", "\t")),
        1 => (0usize..400).prop_map(|n| Length::Value(n.to_string())),
        2 => prop::sample::select(odd.split('|').collect::<Vec<_>>()).prop_map(|v| Length::Value(v.to_owned())),
    ]
    .boxed()
}

/// Content-Length values that rule 4 refuses and `usize::from_str` (after
/// Rust's Unicode `trim`) accepts: a plus sign, Unicode spaces; and, mixed
/// in, values that must still be accepted.
fn signed_length() -> BoxedStrategy<Length> {
    let spaces = vec!["\u{a0}", "\u{85}", "\u{2003}", "\u{3000}", "\u{b}", "\u{c}", " +"];
    prop_oneof![
        3 => Just(Length::Body("+", "")),
        2 => (prop::sample::select(spaces), any::<bool>())
            .prop_map(|(s, before)| if before { Length::Body(s, "") } else { Length::Body("", s) }),
        1 => prop::sample::select(vec!["+0", "++1", "+-1", "\u{ff11}", "\u{663}"])
            .prop_map(|v| Length::Value(v.to_owned())),
        2 => Just(Length::Body("", "")),
        1 => Just(Length::Body("00", "")),
    ]
    .boxed()
}

fn request(lengths: BoxedStrategy<Length>) -> impl Strategy<Value = ReqSpec> {
    let body = prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (prop_oneof![Just(MAX_BODY), Just(MAX_BODY + 1), 0usize..20_000], any::<u8>())
            .prop_map(|(n, s)| pattern(n, s)),
    ];
    let headers = prop_oneof![
        6 => prop::collection::vec(header(), 0..6),
        1 => (44usize..52).prop_map(|n| (0..n).map(|i| Bytes(format!("X-{i}: v").into_bytes())).collect()),
    ];
    (
        prop_oneof![
            prop::sample::select(vec!["GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT", "PATCH", "get"])
                .prop_map(str::to_owned),
            "[A-Z]{1,8}",
        ],
        "/[A-Za-z0-9._~/%=&?-]{0,40}",
        prop::bool::weighted(0.1),
        headers,
        prop_oneof![1 => Just(vec![]), 6 => prop::collection::vec(lengths, 1..3)],
        body,
        prop_oneof![8 => Just(None), 1 => (MAX_HEAD - 6..MAX_HEAD + 6).prop_map(Some), 1 => (0..12_000usize).prop_map(Some)],
    )
        .prop_map(|(method, target, v10, headers, lengths, body, pad_to)| ReqSpec {
            method,
            target,
            v10,
            headers,
            lengths,
            body: Bytes(body),
            pad_to,
        })
}

fn plain_request() -> impl Strategy<Value = ReqSpec> {
    request(plain_length())
}

/// Byte soup; near-valid requests, overwritten in places, cut short, with
/// more bytes after them; heads and bodies at their limits.
fn http_input() -> impl Strategy<Value = Bytes> {
    let mangled = (
        plain_request(),
        prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        prop::option::weighted(0.5, any::<Index>()),
        prop_oneof![
            Just(vec![]),
            plain_request().prop_map(|r| r.bytes()),
            prop::collection::vec(any::<u8>(), 0..64)
        ],
    )
        .prop_map(|(req, edits, cut, tail)| {
            let mut b = req.bytes();
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            if let Some(cut) = cut {
                b.truncate(cut.index(b.len() + 1));
            }
            b.extend_from_slice(&tail);
            Bytes(b)
        });
    // Heads of MAX_HEAD bytes give or take one, whole or cut at the limit.
    let at_limit = (
        plain_request(),
        prop_oneof![
            (MAX_HEAD - 2..MAX_HEAD + 3).prop_map(|pad| (pad, None)),
            (MAX_HEAD - 1..MAX_HEAD + 2).prop_map(|cut| (MAX_HEAD + 8, Some(cut))),
        ],
    )
        .prop_map(|(req, (pad, cut))| {
            let mut b = ReqSpec { pad_to: Some(pad), ..req }.bytes();
            b.truncate(cut.unwrap_or(b.len()));
            Bytes(b)
        });
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..1024).prop_map(Bytes),
        1 => at_limit,
        1 => prop::collection::vec(any::<u8>(), 0..=20 * 1024).prop_map(Bytes),
        4 => plain_request().prop_map(|r| Bytes(r.bytes())),
        5 => mangled,
    ]
}

// ================================================================ HTTP: properties

proptest! {
    #![proptest_config(config())]

    /// Issue 11 (Tests): duet's verdict is httparse's, narrowed only by the
    /// rules duet adds (see `reference`); inputs whose Content-Length, if
    /// any, is one duet always read right.
    #[test]
    fn http_parse_agrees_with_httparse_and_the_stricter_rules(input in http_input()) {
        check_against_reference(&input)?;
    }

    /// Issue 11 row 11, section 7 rule 4: `Content-Length: +2` (or with a
    /// Unicode space around the digits) is refused with 400; digits are
    /// still accepted. Fails until rule 4 is implemented.
    #[test]
    fn http_content_length_must_be_ascii_digits_only(req in request(signed_length())) {
        check_against_reference(&Bytes(req.bytes()))?;
    }

    /// Issue 11 (Tests): one call never panics and never holds more than
    /// the head it read plus the body it copied plus a constant; nothing
    /// but the head is held when no request is returned.
    #[test]
    fn http_parse_allocates_at_most_the_head_and_the_body(
        input in prop_oneof![http_input(), request(signed_length()).prop_map(|r| Bytes(r.bytes()))],
    ) {
        reset_tally();
        let got = counting(true, || http::parse(&input.0));
        let t = tally();
        let body = match &got {
            Ok(Parsed::Complete(r, _)) => r.body.len(),
            _ => 0,
        };
        let bound = input.0.len().min(MAX_HEAD) + body + PARSE_SLACK;
        prop_assert!(t.peak as usize <= bound, "peak {} > {bound} ({got:?})", t.peak);
        prop_assert!(t.peak as usize <= PARSE_BOUND);
    }
}

// ================================================================ frames: reference

/// The decoder holds at most one message being assembled: its bytes (never
/// more than the message limit) and the `Box<Partial>` around them (a flag,
/// a Vec and a counter: 40 bytes). Whole frames are handed to the callback
/// borrowed from the caller's buffer and cost nothing.
const FRAME_SLACK: usize = 64;
/// The limit before AUTH (section 7 rule 6), passed to `decode_limited`.
const PRE_AUTH: usize = 4096;

#[derive(Clone, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close(u16),
}

impl fmt::Debug for Ev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |b: &[u8]| format!("{} bytes \"{}\"", b.len(), b[..b.len().min(16)].escape_ascii());
        match self {
            Ev::Text(t) => write!(f, "Text({})", short(t.as_bytes())),
            Ev::Binary(b) => write!(f, "Binary({})", short(b)),
            Ev::Ping(b) => write!(f, "Ping({})", short(b)),
            Ev::Pong => write!(f, "Pong"),
            Ev::Close(c) => write!(f, "Close({c})"),
        }
    }
}

fn own(e: WsEvent<'_>) -> Ev {
    match e {
        WsEvent::Text(t) => Ev::Text(t.to_owned()),
        WsEvent::Binary(b) => Ev::Binary(b.to_vec()),
        WsEvent::Ping(p) => Ev::Ping(p.to_vec()),
        WsEvent::Pong => Ev::Pong,
        WsEvent::Close(c) => Ev::Close(c),
    }
}

/// What one decode call must do: its result (an error as its close code),
/// its events, and whether a fragmented message was held during it.
#[derive(Debug)]
struct Call {
    result: Result<(usize, Stop), u16>,
    events: Vec<Ev>,
    assembling: bool,
}

/// A reference decoder: headers by tungstenite, the rules of RFC 6455
/// restated, the decode contract of `WsReader` (budget, halt, close).
#[derive(Default)]
struct Model {
    /// A fragmented message so far: text?, unmasked bytes.
    partial: Option<(bool, Vec<u8>)>,
}

/// RFC 6455 7.4: codes a peer may send (as Autobahn cases 7.7 and 7.9 read it).
fn close_reply(p: &[u8]) -> Result<u16, u16> {
    match p {
        [] => Ok(1000),
        [_] => Err(1002),
        [hi, lo, reason @ ..] => match u16::from_be_bytes([*hi, *lo]) {
            c @ (1000..=1003 | 1007..=1011 | 3000..=4999) => {
                std::str::from_utf8(reason).map(|_| c).map_err(|_| 1007)
            }
            _ => Err(1002),
        },
    }
}

impl Model {
    fn decode(&mut self, buf: &[u8], mut budget: usize, limit: usize, halt_after: usize) -> Call {
        let mut call =
            Call { result: Ok((0, Stop::Incomplete)), events: vec![], assembling: self.partial.is_some() };
        let mut pos = 0;
        call.result = loop {
            let mut cursor = Cursor::new(&buf[pos..]);
            let (h, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                // An incomplete header: nothing of it is consumed.
                Ok(None) => break Ok((pos, Stop::Incomplete)),
                // tungstenite refuses the header (a reserved opcode): 1002.
                Err(_) => break Err(1002),
            };
            let start = pos + cursor.position() as usize;
            let control = matches!(h.opcode, OpCode::Control(_));
            // Known from the header alone, refused before any payload is
            // kept: RSV bits (5.2, no extension), unmasked (5.3), a control
            // frame fragmented or over 125 bytes (5.5), then a data frame
            // taking its message past the limit (1009).
            let rsv = h.rsv1 || h.rsv2 || h.rsv3;
            let Some(mask) = h.mask.filter(|_| !rsv) else { break Err(1002) };
            if control && (len > 125 || !h.is_final) {
                break Err(1002);
            }
            let held = self.partial.as_ref().map_or(0, |p| p.1.len() as u64);
            if !control && len.saturating_add(held) > limit as u64 {
                break Err(1009);
            }
            if ((buf.len() - start) as u64) < len {
                break Ok((pos, Stop::Incomplete));
            }
            // A message that would complete while the budget is spent is
            // left whole in the buffer.
            let completes = !control && h.is_final;
            if completes && budget == 0 {
                break Ok((pos, Stop::Budget));
            }
            budget -= usize::from(completes);
            let end = start + len as usize;
            let payload: Vec<u8> = buf[start..end].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            pos = end;
            let event = match h.opcode {
                OpCode::Control(Control::Ping) => Some(Ev::Ping(payload)),
                OpCode::Control(Control::Pong) => Some(Ev::Pong),
                OpCode::Control(Control::Close) => match close_reply(&payload) {
                    Ok(code) => {
                        call.events.push(Ev::Close(code));
                        break Ok((pos, Stop::Closed));
                    }
                    Err(code) => break Err(code),
                },
                OpCode::Data(d) => match self.data(d, h.is_final, payload, &mut call.assembling) {
                    Ok(e) => e,
                    Err(code) => break Err(code),
                },
                OpCode::Control(Control::Reserved(_)) => unreachable!("tungstenite refuses it"),
            };
            if let Some(e) = event {
                call.events.push(e);
                if call.events.len() == halt_after {
                    break Ok((pos, Stop::Halted));
                }
            }
        };
        call
    }

    /// RFC 6455 5.4 (fragments), 5.6 and 8.1 (text is UTF-8; a fragment
    /// that cannot begin valid UTF-8 fails at once, not at the end).
    fn data(
        &mut self,
        d: Data,
        fin: bool,
        payload: Vec<u8>,
        assembling: &mut bool,
    ) -> Result<Option<Ev>, u16> {
        let (text, bytes) = match (d, self.partial.take()) {
            (Data::Continue, None) | (Data::Text | Data::Binary, Some(_)) => return Err(1002),
            (Data::Continue, Some((text, mut bytes))) => {
                bytes.extend_from_slice(&payload);
                (text, bytes)
            }
            (Data::Text, None) => (true, payload),
            (Data::Binary, None) => (false, payload),
            (Data::Reserved(_), _) => unreachable!("tungstenite refuses it"),
        };
        if !fin {
            *assembling = true;
            if text && std::str::from_utf8(&bytes).is_err_and(|e| e.error_len().is_some()) {
                return Err(1007);
            }
            self.partial = Some((text, bytes));
            return Ok(None);
        }
        if !text {
            return Ok(Some(Ev::Binary(bytes)));
        }
        String::from_utf8(bytes).map(|t| Some(Ev::Text(t))).map_err(|_| 1007)
    }
}

// ================================================================ frames: harness

#[derive(Clone)]
struct FrameCase {
    stream: Vec<u8>,
    cuts: Vec<Index>,
    /// `None`: `decode` (MAX_MESSAGE); `Some`: `decode_limited`.
    limit: Option<usize>,
    budget: usize,
    /// The callback asks to stop at this event of a call (0: never).
    halt_after: usize,
}

/// The stream as tungstenite reads it: one entry per frame header.
impl fmt::Debug for FrameCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut frames = Vec::new();
        let mut pos = 0;
        while frames.len() < 40 {
            let mut c = Cursor::new(&self.stream[pos..]);
            let Ok(Some((_, len))) = FrameHeader::parse(&mut c) else { break };
            let (b0, b1) = (self.stream[pos], self.stream[pos + 1]);
            frames.push(format!("[{b0:#04x} {b1:#04x} len {len}]"));
            pos += c.position() as usize;
            pos = pos.saturating_add(len.min(u32::MAX as u64) as usize).min(self.stream.len());
        }
        let rest = Bytes(self.stream[pos..].to_vec());
        let cuts: Vec<usize> = self.cuts.iter().map(|i| i.index(self.stream.len() + 1)).collect();
        let (limit, budget, halt) = (self.limit, self.budget, self.halt_after);
        write!(f, "limit {limit:?} budget {budget} halt_after {halt} cuts {cuts:?}\n  frames ")?;
        write!(f, "{}\n  then {rest:?}", frames.join(""))
    }
}

/// Per call: allocations made, whether a fragmented message was held.
#[derive(Debug, Default)]
struct Drive {
    mismatch: Option<String>,
    calls: Vec<(usize, bool)>,
    peak: isize,
}

/// Feeds the cut stream to a `WsReader` and to the model as the reactor
/// does (the unconsumed rest kept, the next piece appended), then decodes
/// what is left until no progress. Only duet's own work is counted: the
/// callback copying events and the harness run uncounted.
fn drive(case: &FrameCase) -> Drive {
    let limit = case.limit.unwrap_or(MAX_MESSAGE);
    let (mut reader, mut model) = (WsReader::default(), Model::default());
    let mut out = Drive::default();
    let mut pieces = chunks(&case.stream, &case.cuts).into_iter();
    let mut keep: Vec<u8> = Vec::new();
    reset_tally();
    loop {
        let fed = pieces.next().map(|p| keep.extend_from_slice(p)).is_some();
        let before = keep.clone();
        let want = model.decode(&before, case.budget, limit, case.halt_after);
        let mut events = Vec::new();
        let allocs = tally().allocs;
        let got = counting(true, || {
            let mut on = |e: WsEvent<'_>| {
                counting(false, || {
                    events.push(own(e));
                    events.len() != case.halt_after
                })
            };
            match case.limit {
                None => reader.decode(&mut keep, case.budget, &mut on),
                Some(l) => reader.decode_limited(&mut keep, case.budget, l, &mut on),
            }
        });
        out.calls.push((tally().allocs - allocs, want.assembling));
        let got = got.map_err(FrameError::close_code);
        if got != want.result || events != want.events {
            out.mismatch = Some(format!(
                "call {}: duet {got:?} {events:?}\n reference {:?} {:?}",
                out.calls.len(),
                want.result,
                want.events
            ));
            break;
        }
        let Ok((used, stop)) = got else { break };
        if keep[used..] != before[used..] {
            out.mismatch = Some(format!("call {}: unconsumed bytes changed", out.calls.len()));
            break;
        }
        keep.drain(..used);
        if stop == Stop::Closed || (!fed && used == 0) {
            break;
        }
    }
    out.peak = tally().peak;
    out
}

// ================================================================ frames: generators

/// A masked or unmasked frame header for `len` (shortest encoding, or a
/// longer one than needed), then the payload bytes given (masked).
fn frame(first: u8, mask: Option<[u8; 4]>, len: u64, wide: bool, payload: &[u8]) -> Vec<u8> {
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    match len {
        0..=125 if !wide => out.push(m | len as u8),
        0..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(mask) = mask {
        out.extend_from_slice(&mask);
    }
    let mask = mask.unwrap_or_default();
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Any one frame: any first byte (FIN, RSV, opcode), mostly masked, a
/// length that mostly matches its payload or sits at an edge.
fn raw_frame() -> impl Strategy<Value = Vec<u8>> {
    let payload = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..160),
        2 => "\\PC{0,40}".prop_map(String::into_bytes),
        2 => (prop::sample::select(vec![1000u16, 1001, 1005, 1006, 1012, 2999, 3000, 4999, 5000, 0]), "\\PC{0,20}")
            .prop_map(|(c, s)| [&c.to_be_bytes()[..], s.as_bytes()].concat()),
        1 => (prop::sample::select(vec![126usize, PRE_AUTH, PRE_AUTH + 1, MAX_MESSAGE, MAX_MESSAGE + 1]), any::<u8>())
            .prop_map(|(n, s)| pattern(n, s)),
    ];
    let edge = prop::sample::select(vec![125u64, 126, 127, 4096, 65_535, 65_537, 1 << 32, 1 << 63, u64::MAX]);
    (
        prop_oneof![5 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x80, 0x88, 0x89, 0x8A, 0x09, 0xC1]), 1 => any::<u8>()],
        prop::option::weighted(0.95, any::<[u8; 4]>()),
        payload,
        prop_oneof![6 => Just(None), 1 => edge.prop_map(Some), 1 => (0u64..200).prop_map(Some)],
        prop::bool::weighted(0.1),
    )
        .prop_map(|(first, mask, p, len, wide)| frame(first, mask, len.unwrap_or(p.len() as u64), wide, &p))
}

/// A text or binary message cut into fragments at arbitrary bytes (inside
/// characters too), control frames between them, sizes around the limits,
/// sometimes a byte that breaks its UTF-8.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let size =
        prop_oneof![8 => 0usize..200, 3 => PRE_AUTH - 8..PRE_AUTH + 8, 1 => MAX_MESSAGE - 8..MAX_MESSAGE + 8];
    let between = prop::option::weighted(
        0.3,
        (prop::sample::select(vec![0x89u8, 0x8A, 0x88, 0x09]), prop::collection::vec(any::<u8>(), 0..8)),
    );
    (
        any::<bool>(),
        size,
        "\\PC{0,12}",
        prop::option::weighted(0.15, (any::<Index>(), 0x80u8..=0xFF)),
        prop::collection::vec((any::<Index>(), between), 0..5),
        any::<[u8; 4]>(),
    )
        .prop_map(|(text, size, start, corrupt, cuts, mask)| {
            let mut bytes = start.into_bytes();
            bytes.extend((bytes.len()..size).map(|i| b'a' + (i % 26) as u8));
            if let Some((at, b)) = corrupt.filter(|_| !bytes.is_empty()) {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let idx: Vec<Index> = cuts.iter().map(|c| c.0).collect();
            let pieces = chunks(&bytes, &idx);
            let mut out = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                let fin = if i + 1 == pieces.len() { 0x80 } else { 0 };
                let opcode = match (i, text) {
                    (0, true) => 1,
                    (0, false) => 2,
                    _ => 0,
                };
                out.extend(frame(fin | opcode, Some(mask), piece.len() as u64, false, piece));
                if let Some(Some((first, p))) = cuts.get(i).map(|c| &c.1).filter(|_| fin == 0) {
                    out.extend(frame(*first, Some(mask), p.len() as u64, false, p));
                }
            }
            out
        })
}

/// A close frame: codes at the edges of the ranges RFC 6455 7.4 allows,
/// a reason that may not be UTF-8, or a one-byte payload.
fn close() -> impl Strategy<Value = Vec<u8>> {
    let code = prop::sample::select(vec![
        0u16, 999, 1000, 1003, 1004, 1005, 1006, 1007, 1011, 1012, 1015, 2999, 3000, 4999, 5000, 65535,
    ]);
    let reason =
        prop_oneof!["\\PC{0,20}".prop_map(String::into_bytes), prop::collection::vec(any::<u8>(), 0..8)];
    (prop::option::weighted(0.9, (code, reason)), any::<[u8; 4]>()).prop_map(|(p, mask)| {
        let p = p.map_or(vec![3], |(c, r)| [&c.to_be_bytes()[..], &r].concat());
        frame(0x88, Some(mask), p.len() as u64, false, &p)
    })
}

fn frame_case() -> impl Strategy<Value = FrameCase> {
    let stream = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..2048),
        4 => prop::collection::vec(
            prop_oneof![
                6 => message(),
                3 => raw_frame(),
                1 => close(),
                1 => prop::collection::vec(any::<u8>(), 0..16),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat()),
    ];
    (
        stream,
        prop::collection::vec(any::<Index>(), 0..12),
        prop_oneof![Just(None), Just(Some(PRE_AUTH)), (0usize..300).prop_map(Some)],
        prop_oneof![3 => Just(usize::MAX), 1 => 0usize..3],
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
    )
        .prop_map(|(stream, cuts, limit, budget, halt_after)| FrameCase {
            stream,
            cuts,
            limit,
            budget,
            halt_after,
        })
}

// ================================================================ frames: properties

proptest! {
    #![proptest_config(config())]

    /// Issue 11 (Tests): fed in pieces, every decode call returns what the
    /// reference does: the same events, bytes consumed (whole frames; an
    /// incomplete header or payload consumes nothing of its frame; a
    /// spent budget leaves the message), stop, or close code (1002 for
    /// tungstenite's refusals, RSV, unmasked, bad control, bad fragments;
    /// 1007 bad UTF-8; 1009 over the limit, from the header); unconsumed
    /// bytes are left untouched.
    #[test]
    fn frame_decoder_agrees_with_tungstenite_headers_and_rfc_6455(case in frame_case()) {
        let d = drive(&case);
        prop_assert!(d.mismatch.is_none(), "{}", d.mismatch.unwrap_or_default());
    }

    /// Issue 11 (Tests): a decode call that holds no fragmented message
    /// allocates nothing at all (events borrow the caller's buffer).
    #[test]
    fn frame_decoder_allocates_nothing_for_whole_frames(case in frame_case()) {
        let d = drive(&case);
        for (i, &(allocs, assembling)) in d.calls.iter().enumerate() {
            prop_assert!(assembling || allocs == 0, "call {}: {allocs} allocations, no fragment held", i + 1);
        }
    }

    /// Issue 11 (Tests), contract section 7 rule 6: a reader never holds
    /// more than the message limit (64 KiB, 4 KiB before AUTH, any limit
    /// given) plus a constant, however the message is fragmented. Fails
    /// today: the fragment buffer grows by doubling (`extend_from_slice`),
    /// so it can reserve up to about twice the limit.
    #[test]
    fn frame_decoder_holds_at_most_the_message_limit(case in frame_case()) {
        let d = drive(&case);
        let limit = case.limit.unwrap_or(MAX_MESSAGE);
        prop_assert!(d.peak as usize <= limit + FRAME_SLACK, "peak {} bytes > limit {limit} + {FRAME_SLACK}", d.peak);
    }
}

/// The allocation properties can fail: this thread's allocations are seen
/// (a `Vec` growth included), and counting off means not counted.
#[test]
fn counting_allocator_sees_this_threads_allocations() {
    reset_tally();
    let v = counting(true, || {
        let mut v = vec![0u8; 1000];
        v.extend_from_slice(&[1; 1000]);
        v
    });
    let t = tally();
    assert!(t.peak >= 2000 && t.allocs >= 2, "{t:?}");
    counting(false, || drop(vec![0u8; 5000]));
    assert_eq!(tally().peak, t.peak);
    drop(v);
}
