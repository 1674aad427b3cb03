//! The bundled web client (contract: `GET /`): one page and its two assets,
//! compiled into the binary with `include_str!`, so `cargo build` alone
//! serves it and nothing is read from disk at run time.
//!
//! Invariants: the page loads nothing but these paths and `/api`, `/ws/chat`
//! on the same origin, and its `Content-Security-Policy` allows nothing else
//! (no inline script, no external host). The page is rendered once, at
//! start-up, with the settings it shows (tier-1 window, match timeout,
//! message limit, resume grace) in a `<meta name="duet-config">` tag;
//! requests only copy bytes. No user text passes through here.

use crate::config::Config;
use crate::net::http::{Method, Response};

const INDEX: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const STYLE: &str = include_str!("../web/style.css");

/// Where `index.html` wants the settings JSON (already HTML-escaped).
const CONFIG_SLOT: &str = "{{DUET_CONFIG}}";

/// `'self'` in `connect-src` also covers `ws:`/`wss:` to the same host in
/// CSP Level 3 browsers, which is what lets the page reach `/ws/chat`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's fixed paths.
pub const PAGE: &str = "/";
pub const SCRIPT: &str = "/assets/app.js";
pub const STYLESHEET: &str = "/assets/style.css";

/// The rendered page and its assets.
pub struct WebClient {
    index: Box<str>,
}

/// Whether `path` belongs to the web client.
pub fn serves(path: &str) -> bool {
    matches!(path, PAGE | SCRIPT | STYLESHEET)
}

impl WebClient {
    pub fn new(cfg: &Config) -> WebClient {
        let settings = serde_json::json!({
            "tier1Ms": cfg.match_tier1_secs.as_millis() as u64,
            "matchTimeoutMs": cfg.match_timeout_secs.as_millis() as u64,
            "maxMessageChars": cfg.max_message_chars,
            "resumeGraceMs": cfg.resume_grace_secs.as_millis() as u64,
        });
        WebClient { index: INDEX.replace(CONFIG_SLOT, &escape_attr(&settings.to_string())).into() }
    }

    /// `GET`/`HEAD` of one of [`serves`]'s paths; any other method is 405.
    pub fn respond(&self, path: &str, method: Method) -> Response {
        let (content_type, body) = match path {
            SCRIPT => ("text/javascript; charset=utf-8", APP_JS),
            STYLESHEET => ("text/css; charset=utf-8", STYLE),
            _ => ("text/html; charset=utf-8", &*self.index),
        };
        let head_only = match method {
            Method::Get => false,
            Method::Head => true,
            _ => return Response::method_not_allowed("GET, HEAD"),
        };
        let mut resp = Response::with_type(200, content_type, body.as_bytes().to_vec())
            // Unhashed asset names: always revalidate, so an upgrade is seen.
            .header("Cache-Control: no-cache".into())
            .header("X-Content-Type-Options: nosniff".into())
            .header("Referrer-Policy: no-referrer".into())
            .header(format!("Content-Security-Policy: {CSP}"));
        resp.head_only = head_only;
        resp
    }
}

/// Escapes text for a double-quoted HTML attribute.
fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> WebClient {
        let mut cfg = Config::for_tests();
        cfg.max_message_chars = 123;
        WebClient::new(&cfg)
    }

    #[test]
    fn page_carries_the_settings_once_rendered() {
        let page = client().respond(PAGE, Method::Get);
        let html = String::from_utf8(page.body).unwrap();
        assert!(!html.contains(CONFIG_SLOT));
        assert!(html.contains("&quot;maxMessageChars&quot;:123"), "{html}");
    }

    #[test]
    fn assets_have_their_types_and_head_has_no_body() {
        let web = client();
        assert!(web.respond(SCRIPT, Method::Get).content_type.starts_with("text/javascript"));
        assert!(web.respond(STYLESHEET, Method::Get).content_type.starts_with("text/css"));
        let head = web.respond(SCRIPT, Method::Head).to_bytes(false);
        let text = String::from_utf8(head).unwrap();
        assert!(text.ends_with("\r\n\r\n"), "HEAD sends no body: {text}");
        assert!(text.contains(&format!("Content-Length: {}", APP_JS.len())));
        assert_eq!(web.respond(PAGE, Method::Post).status, 405);
    }

    #[test]
    fn the_page_loads_nothing_external_and_no_inline_script() {
        for text in [INDEX, APP_JS, STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://"), "external URL");
        }
        assert!(!INDEX.contains("<script>"), "inline script would break the CSP");
        assert!(!APP_JS.contains("innerHTML"), "user text goes through textContent");
    }

    #[test]
    fn attribute_escaping() {
        assert_eq!(escape_attr(r#"{"a":"<'&'>"}"#), "{&quot;a&quot;:&quot;&lt;&#39;&amp;&#39;&gt;&quot;}");
    }
}
