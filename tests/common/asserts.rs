//! Assertions on replies: the WebSocket `ERROR` envelope, the HTTP error
//! body, and reading the next reply of either kind of client as an error
//! or a close (`Replies`).

use serde_json::Value;

use super::HttpResponse;

/// Asserts `v` is an `ERROR` with this `payload.code` and a string
/// `payload.message` (contract section 3: every `ERROR` carries both).
#[track_caller]
pub fn assert_error(v: &Value, code: &str) {
    check_error(v, code, None);
}

/// `assert_error`, with `what` (the input being tried, the step of a
/// loop) at the head of every failure message.
#[track_caller]
pub fn assert_error_ctx(v: &Value, code: &str, what: &str) {
    check_error(v, code, Some(what));
}

#[track_caller]
fn check_error(v: &Value, code: &str, what: Option<&str>) {
    let what = what.map(|w| format!("{w}: ")).unwrap_or_default();
    assert_eq!(v["type"], "ERROR", "{what}expected ERROR {code}, got {v}");
    assert_eq!(v["payload"]["code"], code, "{what}wrong error code: {v}");
    assert!(v["payload"]["message"].is_string(), "{what}ERROR carries a message: {v}");
}

/// Asserts an HTTP error response: this status and the contract's error
/// body, `{"error":{"code": code, "message": <string>}}` (section 2).
#[track_caller]
pub fn assert_http_error(r: &HttpResponse, status: u16, code: &str) {
    check_http_error(r, status, code, None);
}

/// `assert_http_error`, with `what` (the request being tried) at the
/// head of every failure message.
#[track_caller]
pub fn assert_http_error_ctx(r: &HttpResponse, status: u16, code: &str, what: &str) {
    check_http_error(r, status, code, Some(what));
}

#[track_caller]
fn check_http_error(r: &HttpResponse, status: u16, code: &str, what: Option<&str>) {
    let what = what.map(|w| format!("{w}: ")).unwrap_or_default();
    let body = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, status, "{what}expected {status} {code}; body: {body}");
    let v: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{what}error body is not JSON ({e}): {body}"));
    assert_eq!(v["error"]["code"], code, "{what}wrong error code: {body}");
    assert!(v["error"]["message"].is_string(), "{what}error.message missing: {body}");
}

/// A WebSocket client whose next message can be read as text or as the
/// server's close: `Client` and `raw::Raw`.
pub trait Replies {
    /// The next message: Ok(text as JSON) or Err(close code). Pings and
    /// pongs are skipped; any other frame fails the test.
    fn next_msg(&mut self) -> Result<Value, u16>;

    /// Reads one reply, which must be `ERROR code` (see `assert_error`).
    #[track_caller]
    fn expect_error(&mut self, code: &str, what: &str) {
        match self.next_msg() {
            Ok(v) => assert_error_ctx(&v, code, what),
            Err(close) => panic!("{what}: closed with {close} instead of ERROR {code}"),
        }
    }

    /// Reads the close frame, which must come next and carry `code`.
    #[track_caller]
    fn expect_close_next(&mut self, code: u16, what: &str) {
        match self.next_msg() {
            Err(close) => assert_eq!(close, code, "{what}"),
            Ok(v) => panic!("{what}: expected close {code}, got {v}"),
        }
    }
}
