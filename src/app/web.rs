//! The bundled web client (contract: `GET /`): one page and its assets (the
//! ES modules of the script and the stylesheet), compiled into the binary
//! with `include_str!`, so `cargo build` alone serves it and nothing is read
//! from disk at run time. [`ASSETS`] is the one list of them: adding a file
//! is one line there.
//!
//! Invariants: the page loads nothing but these paths and `/api`, `/ws/chat`
//! on the same origin, and its `Content-Security-Policy` allows nothing else
//! (no inline script, no external host). The page is rendered once, at
//! start-up, with the settings it shows (tier-1 window, match timeout,
//! message limit, resume grace) in a `<meta name="duet-config">` tag;
//! requests only copy bytes. No user text passes through here.

use crate::base::http::{Method, Response};
use crate::config::Config;

const INDEX: &str = include_str!("../web/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every asset the page loads: (path, content type, body). The page's
/// `<script type="module">` is `main.js`, which imports the rest.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("/assets/main.js", JS, include_str!("../web/main.js")),
    ("/assets/state.js", JS, include_str!("../web/state.js")),
    ("/assets/util.js", JS, include_str!("../web/util.js")),
    ("/assets/notice.js", JS, include_str!("../web/notice.js")),
    ("/assets/views.js", JS, include_str!("../web/views.js")),
    ("/assets/identity.js", JS, include_str!("../web/identity.js")),
    ("/assets/api.js", JS, include_str!("../web/api.js")),
    ("/assets/socket.js", JS, include_str!("../web/socket.js")),
    ("/assets/handlers.js", JS, include_str!("../web/handlers.js")),
    ("/assets/profile.js", JS, include_str!("../web/profile.js")),
    ("/assets/queue.js", JS, include_str!("../web/queue.js")),
    ("/assets/room.js", JS, include_str!("../web/room.js")),
    ("/assets/log.js", JS, include_str!("../web/log.js")),
    ("/assets/composer.js", JS, include_str!("../web/composer.js")),
    ("/assets/style.css", CSS, include_str!("../web/style.css")),
];

/// Where `index.html` wants the settings JSON (already HTML-escaped).
const CONFIG_SLOT: &str = "{{DUET_CONFIG}}";

/// `'self'` in `connect-src` also covers `ws:`/`wss:` to the same host in
/// CSP Level 3 browsers, which is what lets the page reach `/ws/chat`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's path.
pub const PAGE: &str = "/";

/// The rendered page and its assets.
pub struct WebClient {
    /// `index.html` with the configuration filled in, rendered once.
    index: Box<str>,
}

/// Whether `path` belongs to the web client.
pub fn serves(path: &str) -> bool {
    path == PAGE || asset(path).is_some()
}

/// The content type and body of the asset at `path`.
fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    ASSETS.iter().find(|(p, _, _)| *p == path).map(|&(_, ty, body)| (ty, body))
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

    /// `GET`/`HEAD` of one of [`serves`]'s paths; any other method is 405,
    /// any other path 404.
    pub fn respond(&self, path: &str, method: Method) -> Response {
        let (content_type, body) = match path {
            PAGE => ("text/html; charset=utf-8", &*self.index),
            _ => match asset(path) {
                Some(found) => found,
                None => return Response::error(404, "NOT_FOUND", "no such resource"),
            },
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
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use super::*;
    use crate::app::{App, blocklist::Blocklist, http_api};
    use crate::base::clock::Clock;
    use crate::base::http::Request;
    use crate::link::outbox;
    use crate::metrics::Metrics;
    use crate::store::memory::MemoryStore;

    fn client() -> WebClient {
        let mut cfg = Config::for_tests();
        cfg.max_message_chars = 123;
        WebClient::new(&cfg)
    }

    /// GET `path` through the HTTP router of a real `App`, as a worker would.
    fn routed(path: &str) -> Response {
        let poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
        let (out, _inbox) = outbox::channel(waker);
        let app = App::new(
            &Config::for_tests(),
            Arc::new(MemoryStore::new()),
            out,
            Arc::new(Metrics::default()),
            Clock::new(),
            Blocklist::empty(),
            None,
        );
        let req = Request { method: Some(Method::Get), path: path.into(), ..Request::default() };
        let client = crate::base::addr::ClientAddr::of(IpAddr::V4(Ipv4Addr::LOCALHOST));
        http_api::route(&app, client, &req)
    }

    fn head_text(resp: &Response) -> String {
        let bytes = resp.to_bytes(false);
        let text = String::from_utf8_lossy(&bytes);
        text[..text.find("\r\n\r\n").expect("end of head")].to_string()
    }

    #[test]
    fn page_carries_the_settings_once_rendered() {
        let page = client().respond(PAGE, Method::Get);
        let html = String::from_utf8(page.body).unwrap();
        assert!(!html.contains(CONFIG_SLOT));
        assert!(html.contains("&quot;maxMessageChars&quot;:123"), "{html}");
    }

    #[test]
    fn every_asset_is_served_with_its_type_and_the_csp() {
        let web = client();
        let page = [(PAGE, "text/html; charset=utf-8", &*web.index)];
        for &(path, ty, body) in page.iter().chain(ASSETS) {
            assert!(serves(path), "{path}");
            let resp = web.respond(path, Method::Get);
            assert_eq!((resp.status, resp.content_type), (200, ty), "{path}");
            assert_eq!(resp.body, body.as_bytes(), "{path}");
            let head = head_text(&resp);
            assert!(head.contains(&format!("Content-Security-Policy: {CSP}")), "{path}: {head}");
            assert!(head.contains("X-Content-Type-Options: nosniff"), "{path}: {head}");
        }
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.0).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len(), "an asset is listed twice");
    }

    #[test]
    fn head_has_no_body_and_other_methods_are_refused() {
        let web = client();
        let (path, _, body) = ASSETS[0];
        let text = String::from_utf8(web.respond(path, Method::Head).to_bytes(false)).unwrap();
        assert!(text.ends_with("\r\n\r\n"), "HEAD sends no body: {text}");
        assert!(text.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(web.respond(PAGE, Method::Post).status, 405);
        assert_eq!(web.respond(path, Method::Post).status, 405);
    }

    #[test]
    fn the_router_serves_the_table_and_nothing_else_under_assets() {
        for &(path, ty, _) in ASSETS {
            let resp = routed(path);
            assert_eq!((resp.status, resp.content_type), (200, ty), "{path}");
        }
        for unknown in ["/assets/x.js", "/assets/app.js", "/assets/", "/assets/main.js/x", "/index.html"] {
            assert!(!serves(unknown), "{unknown}");
            assert_eq!(routed(unknown).status, 404, "{unknown}");
        }
    }

    /// Every path the page or a module asks for is in the table, so a new
    /// module missing its line fails here rather than only in a browser.
    #[test]
    fn everything_the_page_loads_is_in_the_table() {
        // The page's `src="/assets/…"` and `href="/assets/…"`, and every
        // module's `from './…'`.
        let mut wanted: Vec<String> = INDEX
            .split("=\"/assets/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|name| format!("/assets/{name}"))
            .collect();
        assert!(wanted.contains(&"/assets/main.js".to_string()), "{wanted:?}");
        assert!(INDEX.contains(r#"<script type="module" src="/assets/main.js"></script>"#));
        for &(path, _, body) in ASSETS.iter().filter(|a| a.1 == JS) {
            for rest in body.split(" from './").skip(1) {
                let name = rest.split('\'').next().unwrap_or_default();
                wanted.push(format!("/assets/{name}"));
            }
            assert!(!body.contains("import("), "{path}: no dynamic import");
        }
        for path in &wanted {
            assert!(asset(path).is_some(), "{path} is loaded but not in ASSETS");
        }
        // And nothing in the table goes unused.
        for &(path, _, _) in ASSETS {
            assert!(wanted.iter().any(|w| w == path), "{path} is in ASSETS but nothing loads it");
        }
    }

    #[test]
    fn the_page_loads_nothing_external_and_no_inline_script() {
        for (text, path) in std::iter::once((INDEX, PAGE)).chain(ASSETS.iter().map(|a| (a.2, a.0))) {
            assert!(!text.contains("http://") && !text.contains("https://"), "external URL in {path}");
            assert!(!text.contains("innerHTML"), "{path}: user text goes through textContent");
        }
        assert!(!INDEX.contains("<script>"), "inline script would break the CSP");
        assert!(!INDEX.contains("<script type=\"module\">"), "inline script would break the CSP");
    }

    #[test]
    fn attribute_escaping() {
        assert_eq!(escape_attr(r#"{"a":"<'&'>"}"#), "{&quot;a&quot;:&quot;&lt;&#39;&amp;&#39;&gt;&quot;}");
    }
}
