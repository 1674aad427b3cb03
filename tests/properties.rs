//! Property tests (proptest) of duet's pure codecs and validators:
//! `net::http::parse`, `net::frame` (decoder, masking, server frames),
//! `app::protocol` (envelope and outgoing frames) and `app::validate`.
//!
//! Every test is named after the property it checks. Run with
//! `cargo test --test properties`; `PROPTEST_CASES` tunes the case count.

mod common;

use common::frames::{Ev, client_frame, decode_chunks, split_server_frame};
use common::opcode::*;
use common::props::{chunks, config};
use duet::app::protocol::{self, parse_envelope, parse_payload};
use duet::app::validate::{self, TextError, chat_text, interests, nickname};
use duet::net::frame::{MAX_MESSAGE, Stop, TextFrameBuilder, WsReader, apply_mask, close_frame};
use duet::net::http::{self, HttpError, MAX_BODY, MAX_HEAD, Parsed};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

// ================================================================ helpers

/// Arbitrary Unicode: any scalar value, control characters included.
fn unicode(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max_chars).prop_map(String::from_iter)
}

/// Characters that stress trimming and counting: ASCII and Unicode
/// whitespace, control characters, multi-byte letters, anything at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range('a', 'z'),
        2 => prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{2003}', '\u{2028}', '\u{3000}',
            '\u{feff}',
        ]),
        1 => prop::sample::select(vec!['\0', '\u{7}', '\u{1b}', '\u{7f}', '\u{9f}', '\u{200b}', '\u{202e}']),
        2 => prop::sample::select(vec!['é', 'ü', 'ß', 'Σ', 'İ', 'ǅ', '日', '🦊', '\u{301}', 'A', 'Z', '7', '-', '!']),
        2 => any::<char>(),
    ]
}

fn tricky_string(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..=max_chars).prop_map(String::from_iter)
}

// ================================================================ HTTP

/// The request fields the property compares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReqView {
    method: http::Method,
    path: String,
    query: String,
    bearer: Option<String>,
    body: Vec<u8>,
}

fn view(r: &http::Request) -> ReqView {
    ReqView {
        method: r.method(),
        path: r.path.clone(),
        query: r.query.clone(),
        bearer: r.bearer.clone(),
        body: r.body.clone(),
    }
}

/// One valid request: its bytes and what it must parse to.
#[derive(Debug, Clone)]
struct GenReq {
    bytes: Vec<u8>,
    expect: ReqView,
}

fn method_strategy() -> impl Strategy<Value = (&'static str, http::Method)> {
    use http::Method::*;
    prop::sample::select(vec![
        ("GET", Get),
        ("POST", Post),
        ("DELETE", Delete),
        ("HEAD", Head),
        ("OPTIONS", Options),
        ("PUT", Put),
        ("PATCH", Patch),
        ("BREW", Other),
        ("get", Other),
    ])
}

fn request_strategy() -> impl Strategy<Value = GenReq> {
    (
        method_strategy(),
        "/[A-Za-z0-9._~/%-]{0,30}",
        prop::option::of("[A-Za-z0-9=&%+._-]{0,30}"),
        prop::option::of("[A-Za-z0-9._~+/=-]{0,48}"),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..400)),
        prop::collection::vec(("X-[A-Za-z]{1,10}", "[ -~]{0,40}"), 0..4),
        any::<bool>(),
        prop::sample::select(vec!["Bearer", "bearer", "BEARER"]),
    )
        .prop_map(|((m, method), path, query, token, body, extra, v10, scheme)| {
            let target = match &query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let mut head = format!("{m} {target} HTTP/1.{}\r\nHost: example\r\n", if v10 { 0 } else { 1 });
            for (name, value) in &extra {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            if let Some(t) = &token {
                head.push_str(&format!("Authorization: {scheme} {t}\r\n"));
            }
            if let Some(b) = &body {
                head.push_str(&format!("Content-Length: {}\r\n", b.len()));
            }
            head.push_str("\r\n");
            let mut bytes = head.into_bytes();
            let body = body.unwrap_or_default();
            bytes.extend_from_slice(&body);
            GenReq {
                bytes,
                expect: ReqView { method, path, query: query.unwrap_or_default(), bearer: token, body },
            }
        })
}

/// Parses every request of `chunks` the way the reactor does: bytes are
/// accumulated, each complete request is dropped from the front.
fn parse_incrementally(chunks: &[&[u8]]) -> Result<(Vec<ReqView>, usize), HttpError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Parsed::Complete(req, n) = http::parse(&buf)? {
            assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
            out.push(view(&req));
            buf.drain(..n);
        }
    }
    Ok((out, buf.len()))
}

/// Byte soup, and valid request streams with bytes overwritten, cut or
/// inflated (long heads, huge Content-Length) to reach the deeper paths.
fn http_bytes() -> impl Strategy<Value = Vec<u8>> {
    let mangled = (
        prop::collection::vec(request_strategy(), 1..4),
        prop::collection::vec((any::<Index>(), any::<u8>()), 0..6),
        any::<Index>(),
    )
        .prop_map(|(reqs, edits, cut)| {
            let mut bytes: Vec<u8> = reqs.into_iter().flat_map(|r| r.bytes).collect();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes
        });
    let inflated = (
        "[A-Z]{1,7}",
        "[ -~]{0,64}",
        0usize..12_000,
        prop::sample::select(vec!["0", "16384", "16385", "99999999999999999999999", "-1", " 7 ", "1, 1"]),
        prop::collection::vec(any::<u8>(), 0..20_000),
    )
        .prop_map(|(m, target, pad, cl, tail)| {
            let mut b = format!(
                "{m} /{target} HTTP/1.1\r\nX-Pad: {}\r\nContent-Length: {cl}\r\n\r\n",
                "p".repeat(pad)
            )
            .into_bytes();
            b.extend_from_slice(&tail);
            b.truncate(20 * 1024);
            b
        });
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..=20 * 1024),
        3 => mangled,
        2 => inflated,
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn http_parse_never_panics_and_never_overconsumes(bytes in http_bytes()) {
        match http::parse(&bytes) {
            Ok(Parsed::Complete(req, n)) => {
                prop_assert!(n <= bytes.len(), "claimed {n} bytes of {}", bytes.len());
                prop_assert!(n > 0);
                prop_assert!(req.body.len() <= MAX_BODY);
                prop_assert!(n - req.body.len() <= MAX_HEAD);
            }
            Ok(Parsed::Incomplete) => prop_assert!(bytes.len() <= MAX_HEAD + MAX_BODY + 4),
            Err(e) => prop_assert!([400, 413, 431].contains(&e.status())),
        }
    }

    #[test]
    fn http_every_split_of_a_pipelined_stream_parses_to_the_same_requests(
        reqs in prop::collection::vec(request_strategy(), 1..5),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let stream: Vec<u8> = reqs.iter().flat_map(|r| r.bytes.clone()).collect();
        let expect: Vec<ReqView> = reqs.iter().map(|r| r.expect.clone()).collect();
        let (whole, left) = parse_incrementally(&[&stream]).expect("valid stream");
        prop_assert_eq!(left, 0);
        prop_assert_eq!(&whole, &expect);
        let (split, left) = parse_incrementally(&chunks(&stream, &cuts)).expect("valid stream, split");
        prop_assert_eq!(left, 0);
        prop_assert_eq!(&split, &expect);
    }
}

// ================================================================ WebSocket frames

/// A masked client frame (shortest length encoding), appended to `out`.
fn push_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.extend(client_frame(if fin { 0x80 } else { 0 } | opcode, payload, Some(mask)));
}

/// A valid client message.
#[derive(Debug, Clone)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Text in fragments cut at arbitrary byte offsets (so characters may
    /// straddle fragments), each fragment optionally followed by a ping.
    Fragmented {
        text: String,
        cuts: Vec<(Index, Option<Vec<u8>>)>,
    },
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=125)
}

fn binary_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..300),
        // Length-encoding edges, up to exactly MAX_MESSAGE (64-bit length).
        1 => (prop::sample::select(vec![125usize, 126, 127, 0xFFFF, 0x1_0000, MAX_MESSAGE]), any::<u8>())
            .prop_map(|(n, b)| (0..n).map(|i| b.wrapping_add(i as u8)).collect()),
    ]
}

fn msg_strategy() -> impl Strategy<Value = Msg> {
    prop_oneof![
        3 => unicode(120).prop_map(Msg::Text),
        2 => binary_payload().prop_map(Msg::Binary),
        2 => control_payload().prop_map(Msg::Ping),
        1 => control_payload().prop_map(Msg::Pong),
        3 => (unicode(120), prop::collection::vec((any::<Index>(), prop::option::of(control_payload())), 1..6))
            .prop_map(|(text, cuts)| Msg::Fragmented { text, cuts }),
    ]
}

/// Encodes `msgs` with masks taken in turn from `masks`; returns the
/// stream and the events it must decode to.
fn encode_msgs(msgs: &[Msg], masks: &[[u8; 4]]) -> (Vec<u8>, Vec<Ev>) {
    let mut masks = masks.iter().copied().cycle();
    let mut next = || masks.next().expect("at least one mask");
    let (mut out, mut evs) = (Vec::new(), Vec::new());
    for m in msgs {
        match m {
            Msg::Text(t) => {
                push_frame(&mut out, true, TEXT, t.as_bytes(), next());
                evs.push(Ev::Text(t.clone()));
            }
            Msg::Binary(b) => {
                push_frame(&mut out, true, BINARY, b, next());
                evs.push(Ev::Binary(b.clone()));
            }
            Msg::Ping(p) => {
                push_frame(&mut out, true, PING, p, next());
                evs.push(Ev::Ping(p.clone()));
            }
            Msg::Pong(p) => {
                push_frame(&mut out, true, PONG, p, next());
                evs.push(Ev::Pong);
            }
            Msg::Fragmented { text, cuts } => {
                let bytes = text.as_bytes();
                let idx: Vec<Index> = cuts.iter().map(|(i, _)| *i).collect();
                let mut pieces = chunks(bytes, &idx);
                if pieces.len() < 2 {
                    pieces.push(&[]);
                }
                let last = pieces.len() - 1;
                for (i, piece) in pieces.iter().enumerate() {
                    let opcode = if i == 0 { TEXT } else { CONT };
                    push_frame(&mut out, i == last, opcode, piece, next());
                    if i < last
                        && let Some(Some(p)) = cuts.get(i).map(|(_, p)| p)
                    {
                        push_frame(&mut out, true, PING, p, next());
                        evs.push(Ev::Ping(p.clone()));
                    }
                }
                evs.push(Ev::Text(text.clone()));
            }
        }
    }
    (out, evs)
}

/// Byte soup, and frame-shaped bytes: random headers with the mask bit
/// mostly set, lengths near the limits, payloads that may or may not be
/// UTF-8 or carry a close code.
fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    let one = (
        prop_oneof![
            // FIN/opcode combinations a client may send, then anything.
            3 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A, 0x09, 0xC1]),
            1 => any::<u8>(),
        ],
        prop::bool::weighted(0.9),
        prop_oneof![
            6 => (0u64..=130).boxed(),
            1 => Just(126u64).boxed(),
            1 => prop::sample::select(vec![
                0xFFFF_u64,
                MAX_MESSAGE as u64,
                MAX_MESSAGE as u64 + 1,
                u64::MAX,
                1 << 63,
                u32::MAX as u64 + 1,
            ])
            .boxed(),
        ],
        any::<[u8; 4]>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..160),
            unicode(40).prop_map(String::into_bytes),
            (any::<u16>(), unicode(20)).prop_map(|(c, s)| [&c.to_be_bytes()[..], s.as_bytes()].concat()),
        ],
    )
        .prop_map(|(first, masked, len, mask, payload)| {
            let mut out = vec![first, if masked { 0x80 } else { 0 }];
            match len {
                0..=125 => out[1] |= len as u8,
                126..=0xFFFF => {
                    out[1] |= 126;
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    out[1] |= 127;
                    out.extend_from_slice(&len.to_be_bytes());
                }
            }
            if masked {
                out.extend_from_slice(&mask);
            }
            let n = (len as usize).min(payload.len());
            out.extend(payload[..n].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            out
        });
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..2048),
        3 => prop::collection::vec(one, 0..12).prop_map(|fs| fs.concat()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frame_decoder_never_panics_and_errors_map_to_1002_1007_1009(
        bytes in frame_bytes(),
        budget in prop_oneof![0usize..4, Just(usize::MAX), any::<usize>()],
    ) {
        let mut r = WsReader::default();
        let mut buf = bytes.clone();
        let mut pos = 0;
        // Keep decoding the rest, as the reactor does, until no progress.
        loop {
            let mut n_events = 0usize;
            match r.decode(&mut buf[pos..], budget, &mut |_| {
                n_events += 1;
                true
            }) {
                Ok((used, stop)) => {
                    prop_assert!(used <= buf.len() - pos, "consumed {used} of {}", buf.len() - pos);
                    pos += used;
                    if stop == Stop::Closed || used == 0 {
                        break;
                    }
                }
                Err(e) => {
                    prop_assert!([1002, 1007, 1009].contains(&e.close_code()), "{e:?}");
                    break;
                }
            }
        }
        prop_assert!(pos <= bytes.len());
    }

    #[test]
    fn frame_every_split_decodes_to_the_same_events_as_one_piece(
        msgs in prop::collection::vec(msg_strategy(), 0..10),
        masks in prop::collection::vec(any::<[u8; 4]>(), 1..8),
        cuts in prop::collection::vec(any::<Index>(), 0..40),
    ) {
        let (stream, expect) = encode_msgs(&msgs, &masks);
        let (whole, stop, left) = decode_chunks(&[&stream]).expect("valid stream");
        prop_assert_eq!(stop, Stop::Incomplete);
        prop_assert_eq!(left, 0);
        prop_assert_eq!(&whole, &expect);
        let (split, _, left) = decode_chunks(&chunks(&stream, &cuts)).expect("valid stream, split");
        prop_assert_eq!(left, 0);
        prop_assert_eq!(&split, &whole);
    }

    #[test]
    fn apply_mask_twice_is_identity_and_equals_naive_xor(
        data in prop::collection::vec(any::<u8>(), 0..300),
        offset in 0usize..8,
        mask in any::<[u8; 4]>(),
    ) {
        // Offsets make the slice start at every alignment.
        let offset = offset.min(data.len());
        let mut buf = data.clone();
        apply_mask(&mut buf[offset..], mask);
        let naive: Vec<u8> = data[offset..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        prop_assert_eq!(&buf[..offset], &data[..offset]);
        prop_assert_eq!(&buf[offset..], &naive[..]);
        apply_mask(&mut buf[offset..], mask);
        prop_assert_eq!(&buf, &data);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_frame_builder_length_field_matches_payload(
        len in prop_oneof![
            4 => 0usize..70_000,
            1 => prop::sample::select(vec![0usize, 125, 126, 127, 0xFFFF, 0x1_0000, 69_999]),
        ],
        seed in any::<u8>(),
    ) {
        let payload: Vec<u8> = (0..len).map(|i| seed.wrapping_mul(31).wrapping_add(i as u8)).collect();
        let mut b = TextFrameBuilder::new(len / 2);
        b.body().extend_from_slice(&payload);
        let f = b.finish();
        let (first, body) = split_server_frame(&f); // also: unmasked, shortest length, exact size
        prop_assert_eq!(first, 0x81, "final text frame");
        prop_assert_eq!(body, &payload[..]);
    }

    #[test]
    fn protocol_frame_round_trips_arbitrary_unicode(
        text in unicode(200),
        pad in prop_oneof![3 => 0usize..200, 1 => 0usize..70_000],
        id in prop::option::of(unicode(64)),
        ty in "[A-Z_]{1,16}",
    ) {
        let text = format!("{text}{}", "x".repeat(pad));
        let f = protocol::frame(&ty, id.as_deref(), &json!({ "text": text }));
        let (first, body) = split_server_frame(&f); // also: unmasked, shortest length, exact size
        prop_assert_eq!(first, 0x81);
        let v: Value = serde_json::from_slice(body).expect("payload is JSON");
        prop_assert_eq!(v["type"].as_str(), Some(ty.as_str()));
        prop_assert_eq!(v["payload"]["text"].as_str(), Some(text.as_str()));
        prop_assert_eq!(v.get("id").map(|i| i.as_str().expect("id is a string")), id.as_deref());
    }

    #[test]
    fn close_frame_is_a_valid_final_close_within_125_bytes(code in any::<u16>(), reason in unicode(200)) {
        let f = close_frame(code, &reason);
        let (first, body) = split_server_frame(&f); // also: unmasked, shortest length, exact size
        prop_assert_eq!(first, 0x88);
        prop_assert!(body.len() <= 125);
        prop_assert_eq!(&body[..2], &code.to_be_bytes()[..]);
        let cut = std::str::from_utf8(&body[2..]).expect("reason cut on a char boundary");
        prop_assert!(reason.starts_with(cut));
        prop_assert!(cut.len() == reason.len() || cut.len() > 123 - 4, "cut {} of {}", cut.len(), reason.len());
    }
}

// ================================================================ envelope

/// Arbitrary JSON values, strings of either side of the 64-char id limit.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        unicode(80).prop_map(Value::String),
        (0usize..3, unicode(4)).prop_map(|(k, s)| Value::String(format!("{}{s}", "é".repeat(60 + k)))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings that are often nearly JSON.
fn json_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        unicode(100),
        r#"\{("(type|id|payload|[a-z]{0,3})":[ -~]{0,12},?){0,4}\}"#,
        json_value().prop_map(|v| {
            let s = v.to_string();
            s.chars().take(s.chars().count() / 2).collect()
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_envelope_never_panics(s in json_ish()) {
        if let Ok(env) = parse_envelope(&s) {
            if let Some(id) = &env.id {
                prop_assert!(id.chars().count() <= protocol::MAX_ID_CHARS);
            }
            // Any payload present is valid JSON; parsing it never panics.
            let _ = parse_payload::<Value>(env.payload);
        }
    }

    #[test]
    fn parse_envelope_echoes_id_iff_string_of_at_most_64_chars(
        id in prop::option::of(json_value()),
        ty in prop::option::of(prop_oneof![3 => "[A-Z_]{1,12}".prop_map(Value::String), 1 => json_value()]),
        payload in prop::option::of(json_value()),
        extra in prop::option::of(json_value()),
    ) {
        let mut obj = serde_json::Map::new();
        if let Some(t) = &ty {
            obj.insert("type".into(), t.clone());
        }
        if let Some(i) = &id {
            obj.insert("id".into(), i.clone());
        }
        if let Some(p) = &payload {
            obj.insert("payload".into(), p.clone());
        }
        if let Some(x) = extra {
            obj.insert("other".into(), x);
        }
        let text = Value::Object(obj).to_string();
        // Some(echo) when the id is acceptable, None when it must be refused.
        let echo: Option<Option<String>> = match &id {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.chars().count() <= 64 => Some(Some(s.clone())),
            Some(_) => None,
        };
        let ty_str = match &ty {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        match (parse_envelope(&text), echo, ty_str) {
            (Ok(env), Some(echo), Some(t)) => {
                prop_assert_eq!(env.id.map(|i| i.into_owned()), echo);
                prop_assert_eq!(env.ty.into_owned(), t);
                // The raw payload is passed on byte for byte (compared as
                // text: serde_json's default float parsing is not exact);
                // a null payload reads as absent.
                let got = env.payload.map(|p| p.get().to_owned());
                prop_assert_eq!(got, payload.filter(|p| !p.is_null()).map(|p| p.to_string()));
            }
            (Err(bad), Some(echo), None) => prop_assert_eq!(bad.id, echo, "type error keeps a valid id"),
            (Err(bad), None, _) => prop_assert_eq!(bad.id, None, "a bad id is never echoed"),
            (got, echo, t) => prop_assert!(false, "{text}: got {got:?}, id echo {echo:?}, type {t:?}"),
        }
    }
}

// ================================================================ validation

/// Reference: no character of the value as sent is `refused` (section 7:
/// a control at either end is refused, not trimmed away), and trimmed it
/// is 1..=max scalar values.
fn short_text_ok(s: &str, max: usize, refused: impl Fn(char) -> bool) -> Option<&str> {
    if s.chars().any(refused) {
        return None;
    }
    let t = s.trim();
    let n = t.chars().count();
    (1..=max).contains(&n).then_some(t)
}

/// The Unicode general category's first letter ("C" for Cc, Cf, ...), and
/// whether it is one of the separators Zl, Zp.
fn category(c: char) -> (char, bool) {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    let g = get_general_category(c);
    let major = match g {
        G::Control | G::Format | G::PrivateUse | G::Surrogate | G::Unassigned => 'C',
        G::SpaceSeparator | G::LineSeparator | G::ParagraphSeparator => 'Z',
        G::NonspacingMark | G::SpacingMark | G::EnclosingMark => 'M',
        _ if c.is_alphabetic() && !c.is_numeric() => 'L',
        _ => 'x',
    };
    (major, matches!(g, G::LineSeparator | G::ParagraphSeparator))
}

/// Section 7: a nickname refuses Cc, Cf, Zl, Zp and needs a visible
/// character (anything but C, Z and M categories).
/// Section 7: refused in nicknames and interests (Cc, Cf, Zl, Zp).
fn invisible_or_layout(c: char) -> bool {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    matches!(get_general_category(c), G::Control | G::Format) || category(c).1
}

fn nickname_ref(s: &str) -> Option<&str> {
    let t = short_text_ok(s, 32, invisible_or_layout)?;
    t.chars().any(|c| !matches!(category(c).0, 'C' | 'Z' | 'M')).then_some(t)
}

/// Section 7: an avatar refuses Cc, Zl, Zp and the bidi controls.
fn avatar_ref(s: &str) -> Option<&str> {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    let bidi =
        |c: char| matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    short_text_ok(s, 16, |c| get_general_category(c) == G::Control || category(c).1 || bidi(c))
}

/// Reference for `interests`.
fn interests_ref(values: &[String]) -> Option<Vec<String>> {
    // Section 7: counted before de-duplication.
    if values.len() > 5 {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for raw in values {
        // Section 7: controls (and format, separators) refused where they
        // are, also at the ends that trimming would cut.
        if raw.chars().any(invisible_or_layout) {
            return None;
        }
        let tag = raw.trim().to_lowercase();
        let n = tag.chars().count();
        if !(1..=24).contains(&n) || !tag.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-') {
            return None;
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Some(out)
}

fn interest_input() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ ]{0,2}[A-Za-z0-9][A-Za-z0-9 -]{0,24}[ ]{0,2}",
        2 => prop::collection::vec(tricky_char(), 0..28).prop_map(String::from_iter),
        1 => prop::sample::select(vec!["Music", " music ", "MUSIC", "Σίσυφος", "ΣΑΣ", "İstanbul", "ǅungla", "日本"])
            .prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nickname_accepts_exactly_trimmed_1_to_32_visible_scalars_without_controls(s in tricky_string(40)) {
        let got = nickname(&s);
        match nickname_ref(&s) {
            Some(t) => prop_assert_eq!(got.as_deref(), Ok(t)),
            None => prop_assert!(got.is_err(), "{s:?} accepted as {got:?}"),
        }
    }

    #[test]
    fn avatar_accepts_exactly_trimmed_1_to_16_scalars_without_controls(s in tricky_string(24)) {
        let got = validate::avatar(&s);
        match avatar_ref(&s) {
            Some(t) => prop_assert_eq!(got.as_deref(), Ok(t)),
            None => prop_assert!(got.is_err(), "{s:?} accepted as {got:?}"),
        }
    }

    #[test]
    fn mood_accepts_exactly_the_five_names(s in prop_oneof![
        prop::sample::select(vec!["chill", "fire", "silly", "shy", "random", "Chill", " fire", "shy ", ""])
            .prop_map(String::from),
        tricky_string(8),
    ]) {
        let names = ["chill", "fire", "silly", "shy", "random"];
        match validate::mood(&s) {
            Ok(m) => prop_assert_eq!(m.as_str(), s.as_str()),
            Err(_) => prop_assert!(!names.contains(&s.as_str())),
        }
    }

    #[test]
    fn interests_are_lowercase_trimmed_deduplicated_and_bounded(
        values in prop::collection::vec(interest_input(), 0..9),
    ) {
        let got = interests(&values);
        let want = interests_ref(&values);
        match (&got, &want) {
            (Ok(tags), Some(w)) => {
                let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
                prop_assert_eq!(&tags, w);
                prop_assert!(tags.len() <= 5);
                for (i, t) in tags.iter().enumerate() {
                    prop_assert_eq!(t.trim(), t.as_str());
                    prop_assert_eq!(&t.to_lowercase(), t, "not lower-case");
                    prop_assert!((1..=24).contains(&t.chars().count()));
                    prop_assert!(t.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-'));
                    prop_assert!(!tags[..i].contains(t), "duplicate {t:?}");
                }
                // Every input is represented by its normalised form.
                for v in &values {
                    prop_assert!(tags.contains(&v.trim().to_lowercase()));
                }
            }
            (Err(_), None) => {}
            _ => prop_assert!(false, "{values:?}: got {got:?}, reference {want:?}"),
        }
    }

    #[test]
    fn chat_text_ok_is_trimmed_input_within_max_and_errors_are_exact(
        text in prop_oneof![unicode(60), tricky_string(60)],
        max in prop_oneof![4 => 0usize..64, 1 => any::<usize>().prop_map(|m| m.min(usize::MAX - 1))],
    ) {
        let t = text.trim();
        let n = t.chars().count();
        match chat_text(&text, max) {
            Ok(got) => {
                prop_assert_eq!(got, t);
                prop_assert!(1 <= n && n <= max);
            }
            Err(TextError::Empty) => prop_assert!(t.is_empty()),
            Err(TextError::TooLong) => prop_assert!(!t.is_empty() && n > max),
        }
        prop_assert_eq!(chat_text(&text, max).is_err_and(|e| e == TextError::Empty), t.is_empty());
        prop_assert_eq!(chat_text(&text, max).is_err_and(|e| e == TextError::TooLong), !t.is_empty() && n > max);
    }

    #[test]
        fn chat_text_accepts_the_largest_max(text in tricky_string(40)) {
        // `max` comes from configuration (DUET_MAX_MESSAGE_CHARS): any
        // usize, "no limit" included, must be handled without overflow.
        let t = text.trim();
        let want = if t.is_empty() { Err(TextError::Empty) } else { Ok(t) };
        prop_assert_eq!(chat_text(&text, usize::MAX), want);
    }
}
