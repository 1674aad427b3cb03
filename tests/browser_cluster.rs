//! The web client on a cluster (issue 13), in a real browser: two `duet`
//! processes, nodes of one cluster on the machine's Redis (a key prefix of
//! their own, deleted at the end), behind HAProxy running the deployment
//! the docs show (`deploy/haproxy/duet.cfg`, TLS with a certificate made
//! here, only addresses and the certificate path replaced). The node test
//! `tests/browser/cluster.test.mjs` loads the page from HAProxy in two
//! browser contexts; their sockets land on different nodes (leastconn),
//! they are matched and chat, then the test sends SIGTERM to the node of
//! one page (a rolling restart) and that page must resume its room on the
//! other node within the grace, its partner seeing it go and come back.
//!
//! Then, here: the stopped node must have exited 0; it is started again on
//! its port, serves (`/api/health` ok, in the cluster), and HAProxy takes
//! it back into the rotation.
//!
//! Why HAProxy and not a forwarder of the test's own: the page connects to
//! the origin it was loaded from, so a page resumes on another node only
//! through something in front of the nodes, and this is the one the docs
//! tell operators to run. It marks the stopping node DOWN by its health
//! checks (503 while draining) and retries a refused connection on the
//! other node (`option redispatch`).
//!
//! Needs node, npm, Chromium, Redis at 127.0.0.1:6379, `haproxy` and
//! `openssl`: without one the test says so loudly and skips, except under
//! `CI=true`, where it fails. Every wait is bounded; every child is killed
//! when the test ends, passed or failed.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::browser::{node_test, ready, run_bounded, skip_or_fail};
use common::cluster::ping;
use common::free_port;
use common::haproxy::{Proxy, Scratch, deployed_config, make_certificate, missing_tools, run};
use common::nodes::{Cluster, REDIS_URL};
use serde_json::json;

const WHAT: &str = "the two-node browser test";
/// The node test.
const TEST_FILE: &str = "cluster.test.mjs";
/// Longest the node run may take (it normally needs about 15 s).
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// The nodes' resume grace: short, so a page that does not come back in
/// time fails the test quickly.
const GRACE_SECS: u64 = 10;
/// The nodes' names: the config's servers `duet1`, `duet2`, in order.
const NODES: [&str; 2] = ["a", "b"];
/// How long HAProxy may take to see a node come back: `inter 2s rise 2`
/// is two good checks 2 s apart, plus a margin.
const CHECKS_NOTICE: Duration = Duration::from_secs(15);

/// Whether everything the test needs is here (else a loud skip, or a
/// failure under `CI=true`).
fn tools_ready() -> bool {
    if !ready(WHAT) {
        return false;
    }
    if let Some(tools) = missing_tools() {
        skip_or_fail(WHAT, &format!("it needs {tools} (apt-get install haproxy openssl)"));
        return false;
    }
    if let Err(e) = ping(REDIS_URL) {
        skip_or_fail(WHAT, &format!("it needs Redis at {REDIS_URL} ({e})"));
        return false;
    }
    true
}

/// The base64 SHA-256 of the public key of `dir/cert.pem` (made by
/// `make_certificate`): what Chromium's `--ignore-certificate-errors-spki-list`
/// takes, so the pages trust that certificate and no other.
fn spki_sha256(dir: &Path) -> String {
    let [cert, public, der, digest, b64] =
        ["cert.pem", "public.pem", "public.der", "spki.sha256", "spki.b64"].map(|f| dir.join(f));
    run(Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&public));
    run(Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(&public)
        .arg("-out")
        .arg(&der));
    run(Command::new("openssl").args(["dgst", "-sha256", "-binary", "-out"]).arg(&digest).arg(&der));
    run(Command::new("openssl").args(["base64", "-A", "-in"]).arg(&digest).arg("-out").arg(&b64));
    std::fs::read_to_string(&b64).expect("spki.b64").trim().to_string()
}

#[test]
fn pages_on_two_nodes_chat_and_one_resumes_on_the_other_node_when_its_node_restarts() {
    if !tools_ready() {
        return;
    }
    let grace = GRACE_SECS.to_string();
    // Declared first so it drops last: the keys go after the nodes.
    let cluster = Cluster::new(
        "browser",
        REDIS_URL,
        &[("DUET_RESUME_GRACE_SECS", grace.as_str()), ("DUET_TRUSTED_PROXIES", "127.0.0.1")],
    );
    let dir = Scratch::new();
    let ports = [free_port(), free_port()];
    let mut nodes = [0, 1].map(|i| cluster.node_on(NODES[i], ports[i], false));
    let (pem, _) = make_certificate(&dir.0);
    let spki = spki_sha256(&dir.0);
    let listen: SocketAddr = (Ipv4Addr::LOCALHOST, free_port()).into();
    let cfg = dir.0.join("duet.cfg");
    std::fs::write(&cfg, deployed_config(listen, &pem, [nodes[0].addr, nodes[1].addr])).expect("write cfg");
    let mut proxy = Proxy::start(&cfg, listen);

    let described: Vec<_> = nodes
        .iter()
        .map(|n| json!({"id": n.id, "url": format!("http://{}", n.addr), "pid": n.proc.child.id()}))
        .collect();
    let mut node = node_test(&[TEST_FILE.to_string()]);
    node.env("DUET_CLUSTER_URL", format!("https://{listen}"))
        .env("DUET_CLUSTER_NODES", serde_json::to_string(&described).expect("JSON"))
        .env("DUET_CLUSTER_SPKI", spki)
        .env("DUET_CLUSTER_GRACE_MS", (GRACE_SECS * 1000).to_string());
    let started = Instant::now();
    let (ok, out) = run_bounded(node, RUN_LIMIT);
    println!("{out}");
    println!("two-node browser test: {:.1} s", started.elapsed().as_secs_f64());
    assert!(ok, "the two-node browser test failed (output above; haproxy's log:\n{})", proxy.log_text());
    assert!(
        out.contains("\u{2139} pass 1\n") && out.contains("\u{2139} skipped 0\n"),
        "the node test must run, not skip:\n{out}"
    );

    // The node test sent SIGTERM to one node (and says which): it drained
    // and exited 0; the other still runs.
    let i = (0..2)
        .find(|&i| out.contains(&format!("SIGTERM to node {}:", NODES[i])))
        .unwrap_or_else(|| panic!("the node test names the node it stopped:\n{out}"));
    let status = nodes[i].exit_within(Instant::now(), Duration::from_secs(10));
    assert!(status.success(), "node {} exits 0 after SIGTERM: {status}", NODES[i]);
    let other = &mut nodes[1 - i];
    assert!(other.proc.child.try_wait().expect("wait").is_none(), "node {} still runs", other.id);
    let server = format!("duet/duet{}", i + 1);
    let down = proxy.await_log_after(0, &format!("{server} is DOWN"), CHECKS_NOTICE);

    // Restarted on its port, it serves, and HAProxy takes it back.
    let restarted_at = Instant::now();
    nodes[i] = cluster.node_on(NODES[i], ports[i], false);
    let (status, health) = nodes[i].health();
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        (health["status"].as_str(), health["node"].as_str(), health["redis"].as_str()),
        (Some("ok"), Some(NODES[i]), Some("ok")),
        "{health}"
    );
    proxy.await_log_after(down, &format!("{server} is UP"), CHECKS_NOTICE);
    println!(
        "node {} restarted on its port and back in HAProxy's rotation {:.1} s later",
        NODES[i],
        restarted_at.elapsed().as_secs_f64()
    );
    assert!(proxy.child.try_wait().expect("wait").is_none(), "haproxy still runs:\n{}", proxy.log_text());
    // It logs only errors and the unusual (`dontlog-normal`): e.g. a
    // socket it redispatched to the other node (`+1` in the retries field).
    println!("haproxy's log:\n{}", proxy.log_text());
}
