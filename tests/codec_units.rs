//! Unit-style tests of the public codecs: `duet::net::frame` (RFC 6455
//! framing as a server must enforce it) and `duet::net::http::parse`
//! (HTTP/1.1 request heads and bodies with duet's bounds).

mod common;

use common::frames::{self, Ev, client_frame, own, split_server_frame};
use duet::net::frame::{self, FrameError, MAX_MESSAGE, Stop, TextFrameBuilder, WsReader, apply_mask};
use duet::net::http::{self, HttpError, MAX_BODY, MAX_HEAD, Method, Parsed, Request, Response};

// ---------------------------------------------------------------- helpers

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame.
fn cf(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(if fin { 0x80 } else { 0 } | opcode, payload, Some(MASK))
}

use common::opcode::*;

/// Decodes all of `bytes` at once with an unlimited budget.
fn decode_all(bytes: &[u8]) -> (Result<(usize, Stop), FrameError>, Vec<Ev>) {
    let mut r = WsReader::default();
    let mut buf = bytes.to_vec();
    let mut evs = Vec::new();
    let res = r.decode(&mut buf, usize::MAX, &mut |e| {
        evs.push(own(e));
        true
    });
    (res, evs)
}

/// The events of a valid stream fed in `chunks` (see
/// `frames::decode_chunks`), which must leave no byte over unless it
/// closed.
#[track_caller]
fn decode_valid(chunks: &[&[u8]]) -> Vec<Ev> {
    let (evs, stop, left) = frames::decode_chunks(chunks).expect("valid stream");
    if stop != Stop::Closed {
        assert_eq!(left, 0, "bytes left over");
    }
    evs
}

fn parse_ok(bytes: &[u8]) -> (Box<Request>, usize) {
    match http::parse(bytes) {
        Ok(Parsed::Complete(req, n)) => (req, n),
        other => panic!("expected a complete request, got {other:?}"),
    }
}

fn parse_err(bytes: &[u8]) -> HttpError {
    match http::parse(bytes) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

// ------------------------------------------------------------ WebSocket

#[test]
fn masked_text_frame_decodes_to_its_text() {
    let bytes = cf(true, TEXT, "héllo".as_bytes());
    let (res, evs) = decode_all(&bytes);
    assert_eq!(res, Ok((bytes.len(), Stop::Incomplete)));
    assert_eq!(evs, vec![Ev::Text("héllo".into())]);
}

#[test]
fn every_split_point_of_a_multi_frame_stream_decodes_to_the_same_events() {
    let mut stream = Vec::new();
    stream.extend(cf(true, TEXT, b"{\"type\":\"PING\"}"));
    stream.extend(cf(true, PING, b"abc"));
    // A fragmented text message with a ping in the middle, a multi-byte
    // character split across the fragment boundary.
    let e_acute = "é".as_bytes();
    stream.extend(cf(false, TEXT, &[b'c', b'a', b'f', e_acute[0]]));
    stream.extend(cf(true, PING, b""));
    stream.extend(cf(false, CONT, &[e_acute[1], b' ']));
    stream.extend(cf(true, CONT, b"au lait"));
    stream.extend(cf(true, PONG, b"x"));
    stream.extend(cf(true, TEXT, &vec![b'z'; 300])); // 16-bit length form
    stream.extend(cf(true, TEXT, b""));
    let expected = vec![
        Ev::Text("{\"type\":\"PING\"}".into()),
        Ev::Ping(b"abc".to_vec()),
        Ev::Ping(Vec::new()),
        Ev::Text("café au lait".into()),
        Ev::Pong,
        Ev::Text("z".repeat(300)),
        Ev::Text(String::new()),
    ];
    assert_eq!(decode_valid(&[&stream]), expected);
    for split in 0..=stream.len() {
        let (a, b) = stream.split_at(split);
        assert_eq!(decode_valid(&[a, b]), expected, "split at {split}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode_valid(&bytes), expected, "one byte at a time");
}

#[test]
fn incomplete_frame_consumes_nothing_and_leaves_bytes_masked() {
    let bytes = cf(true, TEXT, b"hello world");
    for cut in 0..bytes.len() {
        let mut r = WsReader::default();
        let mut buf = bytes[..cut].to_vec();
        let res = r.decode(&mut buf, usize::MAX, &mut |e| panic!("no event expected: {e:?}"));
        assert_eq!(res, Ok((0, Stop::Incomplete)), "cut at {cut}");
        assert_eq!(buf, bytes[..cut], "an incomplete frame must not be unmasked");
    }
}

#[test]
fn budget_zero_stops_before_a_complete_message_without_consuming_it() {
    let text = cf(true, TEXT, b"hi");
    let ping = cf(true, PING, b"p");
    let mut buf = [ping.clone(), text.clone()].concat();
    let mut r = WsReader::default();
    let mut evs = Vec::new();
    let res = r.decode(&mut buf, 0, &mut |e| {
        evs.push(own(e));
        true
    });
    // The control frame needs no budget; the text message is left intact.
    assert_eq!(res, Ok((ping.len(), Stop::Budget)));
    assert_eq!(evs, vec![Ev::Ping(b"p".to_vec())]);
    assert_eq!(&buf[ping.len()..], &text[..], "the held-back frame is untouched");
}

#[test]
fn budget_limits_the_number_of_messages_emitted() {
    let frames: Vec<Vec<u8>> = (0..5).map(|i| cf(true, TEXT, format!("m{i}").as_bytes())).collect();
    let mut buf = frames.concat();
    let mut r = WsReader::default();
    let mut evs = Vec::new();
    let res = r.decode(&mut buf, 2, &mut |e| {
        evs.push(own(e));
        true
    });
    assert_eq!(res, Ok((frames[0].len() + frames[1].len(), Stop::Budget)));
    assert_eq!(evs, vec![Ev::Text("m0".into()), Ev::Text("m1".into())]);
    // Retrying with the rest and budget for all of it finishes the stream.
    let used = res.unwrap().0;
    let mut rest = frames[2..].concat();
    assert_eq!(buf[used..].len(), rest.len());
    evs.clear();
    let res = r.decode(&mut rest, 10, &mut |e| {
        evs.push(own(e));
        true
    });
    assert_eq!(res, Ok((rest.len(), Stop::Incomplete)));
    assert_eq!(evs.len(), 3);
}

#[test]
fn non_final_fragments_do_not_spend_budget_but_the_last_one_does() {
    let mut buf = [cf(false, TEXT, b"ab"), cf(false, CONT, b"cd"), cf(true, CONT, b"ef")].concat();
    let first_two = cf(false, TEXT, b"ab").len() + cf(false, CONT, b"cd").len();
    let mut r = WsReader::default();
    let res = r.decode(&mut buf, 0, &mut |e| panic!("no event expected: {e:?}"));
    assert_eq!(res, Ok((first_two, Stop::Budget)));
    assert!(r.is_assembling());
    let mut rest = cf(true, CONT, b"ef");
    let mut evs = Vec::new();
    let res = r.decode(&mut rest, 1, &mut |e| {
        evs.push(own(e));
        true
    });
    assert_eq!(res, Ok((rest.len(), Stop::Incomplete)));
    assert_eq!(evs, vec![Ev::Text("abcdef".into())]);
    assert!(!r.is_assembling());
}

#[test]
fn callback_returning_false_halts_right_after_that_event() {
    let a = cf(true, TEXT, b"a");
    let mut buf = [a.clone(), cf(true, TEXT, b"b")].concat();
    let mut r = WsReader::default();
    let mut n = 0;
    let res = r.decode(&mut buf, usize::MAX, &mut |_| {
        n += 1;
        false
    });
    assert_eq!(res, Ok((a.len(), Stop::Halted)));
    assert_eq!(n, 1);
}

#[test]
fn close_frame_stops_decoding_and_ignores_what_follows() {
    let close = cf(true, CLOSE, &1001u16.to_be_bytes());
    let bytes = [close.clone(), cf(true, TEXT, b"after")].concat();
    let (res, evs) = decode_all(&bytes);
    assert_eq!(res, Ok((close.len(), Stop::Closed)));
    assert_eq!(evs, vec![Ev::Close(1001)]);
}

#[test]
fn empty_close_payload_is_echoed_as_1000() {
    let (res, evs) = decode_all(&cf(true, CLOSE, b""));
    assert!(matches!(res, Ok((_, Stop::Closed))));
    assert_eq!(evs, vec![Ev::Close(1000)]);
}

#[test]
fn binary_frame_is_reported_as_binary() {
    let (res, evs) = decode_all(&cf(true, BINARY, &[0, 159, 255]));
    assert!(res.is_ok());
    assert_eq!(evs, vec![Ev::Binary(vec![0, 159, 255])]);
}

#[test]
fn unmasked_client_frame_is_a_protocol_error() {
    let (res, evs) = decode_all(&client_frame(0x80 | TEXT, b"hi", None));
    assert!(matches!(res, Err(FrameError::Unmasked)), "{res:?}");
    assert!(evs.is_empty());
}

#[test]
fn any_rsv_bit_is_a_protocol_error() {
    for rsv in [0x40, 0x20, 0x10] {
        let (res, _) = decode_all(&client_frame(0x80 | rsv | TEXT, b"hi", Some(MASK)));
        assert!(matches!(res, Err(FrameError::ReservedBits)), "rsv {rsv:#x}: {res:?}");
    }
}

#[test]
fn reserved_opcodes_are_protocol_errors() {
    for op in [0x3, 0x7, 0xB, 0xF] {
        let (res, _) = decode_all(&cf(true, op, b"x"));
        assert!(matches!(res, Err(FrameError::ReservedOpcode)), "opcode {op:#x}: {res:?}");
    }
}

#[test]
fn fragmented_or_oversized_control_frames_are_protocol_errors() {
    let (res, _) = decode_all(&cf(false, PING, b"x"));
    assert!(matches!(res, Err(FrameError::FragmentedControl)), "{res:?}");
    let (res, _) = decode_all(&cf(true, PING, &[1; 126]));
    assert!(matches!(res, Err(FrameError::ControlTooLong)), "{res:?}");
    let (res, evs) = decode_all(&cf(true, PING, &[1; 125]));
    assert!(res.is_ok());
    assert_eq!(evs, vec![Ev::Ping(vec![1; 125])]);
}

#[test]
fn continuation_without_a_start_is_a_protocol_error() {
    let (res, _) = decode_all(&cf(true, CONT, b"x"));
    assert!(matches!(res, Err(FrameError::ContinuationWithoutStart)), "{res:?}");
}

#[test]
fn new_data_frame_inside_a_fragmented_message_is_a_protocol_error() {
    let bytes = [cf(false, TEXT, b"a"), cf(true, TEXT, b"b")].concat();
    let (res, evs) = decode_all(&bytes);
    assert!(matches!(res, Err(FrameError::NewMessageInFragmented)), "{res:?}");
    assert!(evs.is_empty());
}

#[test]
fn invalid_utf8_in_a_text_message_is_bad_utf8() {
    let (res, _) = decode_all(&cf(true, TEXT, &[b'a', 0xff, b'b']));
    assert_eq!(res, Err(FrameError::BadUtf8));
    // Also when the fragments assemble to an invalid sequence.
    let bytes = [cf(false, TEXT, &[0xc3]), cf(true, CONT, b"(")].concat();
    let (res, _) = decode_all(&bytes);
    assert_eq!(res, Err(FrameError::BadUtf8));
}

#[test]
fn a_bad_fragment_fails_when_it_arrives_not_when_the_message_completes() {
    // Autobahn 6.4.1: valid, then a fragment making it invalid (U+110000
    // encoded), the final fragment not sent yet.
    let bytes = [cf(false, TEXT, "κόσμε".as_bytes()), cf(false, CONT, &[0xf4, 0x90, 0x80, 0x80])].concat();
    let (res, _) = decode_all(&bytes);
    assert_eq!(res, Err(FrameError::BadUtf8));
    // A character split across fragments is fine until the message ends.
    let euro = "€".as_bytes();
    let bytes =
        [cf(false, TEXT, &euro[..1]), cf(false, CONT, &euro[1..2]), cf(true, CONT, &euro[2..])].concat();
    let (res, evs) = decode_all(&bytes);
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(evs, vec![Ev::Text("€".into())]);
    // Binary fragments are never checked.
    let bytes = [cf(false, BINARY, &[0xff]), cf(false, CONT, &[0xfe])].concat();
    assert!(decode_all(&bytes).0.is_ok());
}

#[test]
fn message_of_exactly_64_kib_is_accepted() {
    let payload = vec![b'a'; MAX_MESSAGE];
    let (res, evs) = decode_all(&cf(true, TEXT, &payload));
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(evs.len(), 1);
    let half = MAX_MESSAGE / 2;
    let bytes = [cf(false, TEXT, &payload[..half]), cf(true, CONT, &payload[half..])].concat();
    let (res, evs) = decode_all(&bytes);
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(evs.len(), 1);
}

#[test]
fn oversized_frame_is_refused_from_its_header_alone() {
    let full = cf(true, TEXT, &vec![b'a'; MAX_MESSAGE + 1]);
    // Only the header (2 + 8 length + 4 mask bytes) has arrived.
    let (res, _) = decode_all(&full[..14]);
    assert_eq!(res, Err(FrameError::TooBig));
    // A 64-bit length with the top bit set is not a reason to wait either.
    let mut huge = vec![0x81, 0x80 | 127];
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    huge.extend_from_slice(&MASK);
    let (res, _) = decode_all(&huge);
    assert!(res.is_err(), "{res:?}");
}

#[test]
fn fragments_adding_up_past_64_kib_are_too_big() {
    let part = vec![b'a'; MAX_MESSAGE / 2];
    let mut r = WsReader::default();
    let mut buf = [cf(false, TEXT, &part), cf(false, CONT, &part)].concat();
    let res = r.decode(&mut buf, usize::MAX, &mut |_| true);
    assert!(res.is_ok());
    // One more byte is over the limit: refused from the header.
    let one_more = cf(true, CONT, b"b");
    let mut buf = one_more[..6].to_vec();
    let res = r.decode(&mut buf, usize::MAX, &mut |_| true);
    assert_eq!(res, Err(FrameError::TooBig));
}

#[test]
fn frame_errors_map_to_their_close_codes() {
    assert_eq!(FrameError::Unmasked.close_code(), 1002);
    assert_eq!(FrameError::BadUtf8.close_code(), 1007);
    assert_eq!(FrameError::TooBig.close_code(), 1009);
}

#[test]
fn valid_close_codes_are_echoed() {
    for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] {
        let (res, evs) = decode_all(&cf(true, CLOSE, &code.to_be_bytes()));
        assert!(matches!(res, Ok((_, Stop::Closed))), "code {code}: {res:?}");
        assert_eq!(evs, vec![Ev::Close(code)]);
    }
}

#[test]
fn reserved_or_out_of_range_close_codes_are_protocol_errors() {
    // RFC 6455 7.4.1/7.4.2: 1004-1006 and 1015 must not be sent; below 1000,
    // 1016-2999 (unassigned) and 5000+ are invalid.
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        let (res, evs) = decode_all(&cf(true, CLOSE, &code.to_be_bytes()));
        assert!(matches!(res, Err(FrameError::BadCloseCode)), "code {code}: {res:?}");
        assert!(evs.is_empty(), "code {code}");
    }
}

#[test]
fn one_byte_close_payload_is_a_protocol_error() {
    let (res, _) = decode_all(&cf(true, CLOSE, &[3]));
    assert!(matches!(res, Err(FrameError::ShortClosePayload)), "{res:?}");
}

#[test]
fn close_reason_must_be_utf8() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(&[0xce, 0xba, 0xe1, 0xbd]); // truncated sequence
    let (res, _) = decode_all(&cf(true, CLOSE, &payload));
    assert_eq!(res, Err(FrameError::BadUtf8));
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice("bye κόσμε".as_bytes());
    let (_, evs) = decode_all(&cf(true, CLOSE, &payload));
    assert_eq!(evs, vec![Ev::Close(1000)]);
}

#[test]
fn apply_mask_equals_naive_xor_for_all_lengths_and_alignments() {
    let masks = [[0u8; 4], [0xff; 4], [1, 2, 3, 4], MASK];
    for mask in masks {
        for offset in 0..8 {
            for len in 0..64 {
                let data: Vec<u8> = (0..offset + len).map(|i| (i * 31 + 7) as u8).collect();
                let mut fast = data.clone();
                apply_mask(&mut fast[offset..], mask);
                let mut naive = data.clone();
                for (i, b) in naive[offset..].iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
                assert_eq!(fast, naive, "mask {mask:?} offset {offset} len {len}");
                // Masking twice restores the input.
                apply_mask(&mut fast[offset..], mask);
                assert_eq!(fast, data);
            }
        }
    }
}

#[test]
fn close_frame_carries_code_and_reason_in_one_final_unmasked_frame() {
    let f = frame::close_frame(4408, "idle timeout");
    let (first, payload) = split_server_frame(&f);
    assert_eq!(first, 0x88);
    assert_eq!(&payload[..2], &4408u16.to_be_bytes());
    assert_eq!(&payload[2..], b"idle timeout");
}

#[test]
fn close_frame_reason_is_cut_to_fit_a_control_frame() {
    let f = frame::close_frame(1000, &"x".repeat(300));
    let (_, payload) = split_server_frame(&f);
    assert_eq!(payload.len(), 125);
}

#[test]
fn close_frame_reason_stays_valid_utf8_when_cut() {
    // 100 two-byte characters: byte 123 falls in the middle of one.
    let f = frame::close_frame(1000, &"é".repeat(100));
    let (_, payload) = split_server_frame(&f);
    assert!(payload.len() <= 125);
    assert!(
        std::str::from_utf8(&payload[2..]).is_ok(),
        "RFC 6455 5.5.1: the close reason must be valid UTF-8, got {:?}",
        &payload[payload.len() - 3..]
    );
}

#[test]
fn text_frame_builder_uses_the_shortest_length_form() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut b = TextFrameBuilder::new(len);
        b.body().extend_from_slice(&payload);
        let f = b.finish();
        let (first, got) = split_server_frame(&f);
        assert_eq!(first, 0x81, "final text frame, len {len}");
        assert_eq!(got, &payload[..], "payload, len {len}");
    }
}

#[test]
fn text_frame_builder_works_with_a_wrong_capacity_hint() {
    let mut b = TextFrameBuilder::new(0);
    b.body().extend_from_slice(&[b'q'; 200]);
    let f = b.finish();
    let (first, got) = split_server_frame(&f);
    assert_eq!(first, 0x81);
    assert_eq!(got, &[b'q'; 200][..]);
}

#[test]
fn encode_writes_final_unmasked_frames() {
    let mut out = Vec::new();
    frame::encode(
        &mut out,
        tungstenite::protocol::frame::coding::OpCode::Control(
            tungstenite::protocol::frame::coding::Control::Pong,
        ),
        b"pp",
    );
    assert_eq!(out, [0x8A, 2, b'p', b'p']);
}

// ------------------------------------------------------------------ HTTP

const GET_HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";

fn post(body: &str) -> Vec<u8> {
    format!(
        "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn every_strict_prefix_of_a_request_is_incomplete() {
    let req = post("{\"nickname\":\"Ana\"}");
    for cut in 0..req.len() {
        match http::parse(&req[..cut]) {
            Ok(Parsed::Incomplete) => {}
            other => panic!("prefix of {cut} bytes: {other:?}"),
        }
    }
    let (r, used) = parse_ok(&req);
    assert_eq!(used, req.len());
    assert_eq!(r.method(), Method::Post);
    assert_eq!(r.path, "/api/users/registerOrUpdate");
    assert_eq!(r.body, b"{\"nickname\":\"Ana\"}");
    assert!(!r.close);
}

#[test]
fn pipelined_requests_are_parsed_one_at_a_time_with_exact_byte_counts() {
    let a = post("{}");
    let b = GET_HEALTH.to_vec();
    let c = b"DELETE /api/users/me?x=1 HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n".to_vec();
    let all = [a.clone(), b.clone(), c.clone()].concat();
    let (r1, n1) = parse_ok(&all);
    assert_eq!(n1, a.len());
    assert_eq!(r1.body, b"{}");
    let (r2, n2) = parse_ok(&all[n1..]);
    assert_eq!(n2, b.len());
    assert_eq!(r2.path, "/api/health");
    let (r3, n3) = parse_ok(&all[n1 + n2..]);
    assert_eq!(n3, c.len());
    assert_eq!(r3.method(), Method::Delete);
    assert_eq!(r3.path, "/api/users/me");
    assert_eq!(r3.query, "x=1");
    // A request followed by part of the next one still completes the first.
    let (_, n) = parse_ok(&all[..n1 + 5]);
    assert_eq!(n, n1);
}

#[test]
fn methods_are_recognised() {
    for (m, want) in [
        ("GET", Method::Get),
        ("POST", Method::Post),
        ("DELETE", Method::Delete),
        ("HEAD", Method::Head),
        ("OPTIONS", Method::Options),
        ("PUT", Method::Put),
        ("PATCH", Method::Patch),
        ("BREW", Method::Other),
    ] {
        let (r, _) = parse_ok(format!("{m} / HTTP/1.1\r\n\r\n").as_bytes());
        assert_eq!(r.method(), want, "{m}");
    }
}

#[test]
fn malformed_request_line_is_bad_request() {
    for bad in [
        &b"NOT A VALID REQUEST LINE\r\n\r\n"[..],
        b"GET /api/health HTTP/9.9\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\nno colon here\r\n\r\n",
    ] {
        let e = parse_err(bad);
        assert!(matches!(e, HttpError::Bad(_)), "{:?}: {e:?}", String::from_utf8_lossy(bad));
        assert_eq!(e.status(), 400);
        assert_eq!(e.code(), "BAD_REQUEST");
    }
}

fn with_padding(pad: usize) -> Vec<u8> {
    format!("GET /api/health HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(pad)).into_bytes()
}

#[test]
fn head_up_to_8_kib_is_accepted() {
    let overhead = with_padding(0).len();
    let req = with_padding(MAX_HEAD - overhead);
    assert_eq!(req.len(), MAX_HEAD);
    let (_, used) = parse_ok(&req);
    assert_eq!(used, MAX_HEAD);
}

#[test]
fn complete_head_over_8_kib_is_headers_too_large() {
    let overhead = with_padding(0).len();
    let e = parse_err(&with_padding(MAX_HEAD - overhead + 1));
    assert_eq!(e, HttpError::HeadersTooLarge);
    assert_eq!(e.status(), 431);
}

#[test]
fn unfinished_head_past_8_kib_is_refused_without_waiting() {
    let mut req = b"GET /api/health HTTP/1.1\r\nX-Pad: ".to_vec();
    req.resize(MAX_HEAD + 1, b'a');
    assert_eq!(parse_err(&req), HttpError::HeadersTooLarge);
    // Just at the limit it may still be waiting for the rest.
    assert!(matches!(http::parse(&req[..MAX_HEAD]), Ok(Parsed::Incomplete)));
}

#[test]
fn too_many_headers_are_headers_too_large() {
    let mut req = String::from("GET / HTTP/1.1\r\n");
    for i in 0..100 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    assert_eq!(parse_err(req.as_bytes()).status(), 431);
}

#[test]
fn body_of_16_kib_is_accepted_and_one_byte_more_is_too_large() {
    let body = "a".repeat(MAX_BODY);
    let req = post(&body);
    let (r, used) = parse_ok(&req);
    assert_eq!(used, req.len());
    assert_eq!(r.body.len(), MAX_BODY);
    // Refused from the Content-Length alone, before the body arrives.
    let head = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
    let e = parse_err(head.as_bytes());
    assert_eq!(e, HttpError::BodyTooLarge);
    assert_eq!(e.status(), 413);
}

#[test]
fn body_waits_for_content_length_bytes() {
    let req = b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123";
    assert!(matches!(http::parse(req), Ok(Parsed::Incomplete)));
}

#[test]
fn transfer_encoding_is_refused() {
    let req = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let e = parse_err(req);
    assert!(matches!(e, HttpError::Bad(_)), "{e:?}");
    assert_eq!(e.status(), 400);
}

#[test]
fn bad_or_conflicting_content_length_is_bad_request() {
    for req in [
        &b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n"[..],
        b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    ] {
        assert_eq!(parse_err(req).status(), 400, "{}", String::from_utf8_lossy(req));
    }
    // Repeating the same length is harmless.
    let (r, _) = parse_ok(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(r.body, b"ab");
}

#[test]
fn bearer_token_is_taken_from_authorization() {
    let cases: [(&str, &str); 3] = [
        ("Authorization: Bearer abc123\r\n", "abc123"),
        ("authorization:   bearer   tok-_x  \r\n", "tok-_x"),
        ("AUTHORIZATION: BEARER T\r\n", "T"),
    ];
    for (header, want) in cases {
        let (r, _) = parse_ok(format!("GET /api/users/me HTTP/1.1\r\n{header}\r\n").as_bytes());
        assert_eq!(r.bearer.as_deref(), Some(want), "{header:?}");
    }
    let (r, _) = parse_ok(b"GET /api/users/me HTTP/1.1\r\n\r\n");
    assert_eq!(r.bearer, None, "no Authorization header: no token");
}

#[test]
fn authorization_that_is_not_a_bearer_token_yields_no_usable_token() {
    for header in [
        "Authorization: Basic dXNlcjpwYXNz\r\n",
        "Authorization: Bearer\r\n",
        "Authorization: Bearer    \r\n",
        "Authorization: Bearerabc\r\n",
    ] {
        let (r, _) = parse_ok(format!("GET /api/users/me HTTP/1.1\r\n{header}\r\n").as_bytes());
        assert_eq!(r.bearer.as_deref().unwrap_or(""), "", "{header:?}");
    }
}

#[test]
fn origin_is_kept_trimmed() {
    let (r, _) = parse_ok(b"GET /ws/chat HTTP/1.1\r\nOrigin:  https://duet.example \r\n\r\n");
    assert_eq!(r.origin.as_deref(), Some("https://duet.example"));
    let (r, _) = parse_ok(GET_HEALTH);
    assert_eq!(r.origin, None);
}

#[test]
fn upgrade_needs_both_upgrade_websocket_and_connection_upgrade() {
    let base = "GET /ws/chat HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let (r, _) =
        parse_ok(format!("{base}Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n").as_bytes());
    assert!(r.wants_upgrade);
    assert_eq!(r.ws_key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(r.ws_version.as_deref(), Some("13"));
    let (r, _) = parse_ok(format!("{base}Upgrade: websocket\r\n\r\n").as_bytes());
    assert!(!r.wants_upgrade, "no Connection: upgrade");
    let (r, _) = parse_ok(format!("{base}Connection: upgrade\r\n\r\n").as_bytes());
    assert!(!r.wants_upgrade, "no Upgrade: websocket");
    let (r, _) = parse_ok(format!("{base}Upgrade: h2c\r\nConnection: upgrade\r\n\r\n").as_bytes());
    assert!(!r.wants_upgrade, "another protocol");
    let (r, _) = parse_ok(GET_HEALTH);
    assert_eq!((r.ws_key, r.ws_version), (None, None));
}

#[test]
fn connection_close_and_http_1_0_ask_to_close() {
    let (r, _) = parse_ok(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(r.close);
    let (r, _) = parse_ok(b"GET / HTTP/1.1\r\n\r\n");
    assert!(!r.close, "HTTP/1.1 defaults to keep-alive");
    let (r, _) = parse_ok(b"GET / HTTP/1.0\r\n\r\n");
    assert!(r.close, "HTTP/1.0 defaults to close");
    let (r, _) = parse_ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(!r.close);
}

#[test]
fn path_and_query_are_split() {
    let (r, _) = parse_ok(b"GET /api/admin/reports?limit=5&x=y HTTP/1.1\r\n\r\n");
    assert_eq!(r.path, "/api/admin/reports");
    assert_eq!(r.query, "limit=5&x=y");
}

#[test]
fn response_bytes_frame_the_body_with_content_length() {
    let r = Response::error(404, "NOT_FOUND", "nope");
    let bytes = String::from_utf8(r.to_bytes(false)).unwrap();
    let (head, body) = bytes.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    assert!(head.contains("Content-Type: application/json"));
    assert!(head.contains(&format!("Content-Length: {}", body.len())));
    assert!(head.contains("Connection: keep-alive"));
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["code"], "NOT_FOUND");
    assert_eq!(v["error"]["message"], "nope");
    let closing = String::from_utf8(r.to_bytes(true)).unwrap();
    assert!(closing.contains("Connection: close\r\n"));
    let nc = String::from_utf8(Response::no_content().to_bytes(false)).unwrap();
    assert!(nc.starts_with("HTTP/1.1 204 "));
    assert!(!nc.to_ascii_lowercase().contains("content-length"), "{nc}");
    assert!(nc.ends_with("\r\n\r\n"));
}

#[test]
fn switching_protocols_uses_the_rfc_6455_accept_key() {
    let bytes = String::from_utf8(http::switching_protocols("dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
    assert!(bytes.starts_with("HTTP/1.1 101 "));
    assert!(bytes.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(bytes.to_ascii_lowercase().contains("upgrade: websocket\r\n"));
    assert!(bytes.ends_with("\r\n\r\n"));
}
