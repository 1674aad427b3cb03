//! `register-storm`: many keep-alive clients posting
//! `/api/users/registerOrUpdate` back to back for a while; prints one JSON
//! line: registrations answered 200 per second, other statuses, and the
//! latency percentiles. Std only (blocking sockets, one thread a client):
//! a storm of a few hundred clients needs nothing more.
//!
//! Usage: register-storm ADDR CLIENTS SECONDS
//! (loopback only, like the harness; the server needs a generous
//! `--register-per-minute`, every client being 127.0.0.1).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const BODY: &str = "{}";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: register-storm ADDR CLIENTS SECONDS");
        std::process::exit(2)
    };
    if args.len() != 4 {
        usage();
    }
    let addr: SocketAddr = args[1].parse().unwrap_or_else(|_| usage());
    if !addr.ip().is_loopback() {
        eprintln!("register-storm: only loopback targets");
        std::process::exit(2);
    }
    let clients: usize = args[2].parse().unwrap_or_else(|_| usage());
    let secs: f64 = args[3].parse().unwrap_or_else(|_| usage());
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients).map(|_| std::thread::spawn(move || client(addr, end))).collect();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut lat: Vec<u32> = Vec::new();
    let mut errors = 0u64;
    for t in threads {
        match t.join() {
            Ok(r) => {
                for (s, n) in r.statuses {
                    *statuses.entry(s).or_default() += n;
                }
                lat.extend(r.lat_us);
                errors += r.errors;
            }
            Err(_) => errors += 1,
        }
    }
    let took = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied();
    let ok = statuses.get(&200).copied().unwrap_or(0);
    println!(
        "{{\"clients\":{clients},\"seconds\":{took:.2},\"ok\":{ok},\"ok_per_sec\":{:.0},\"statuses\":{},\"errors\":{errors},\"p50_us\":{},\"p99_us\":{}}}",
        ok as f64 / took,
        serde_json::to_string(&statuses).unwrap_or_default(),
        pct(0.5).unwrap_or(0),
        pct(0.99).unwrap_or(0),
    );
}

#[derive(Default)]
struct Run {
    statuses: BTreeMap<u16, u64>,
    lat_us: Vec<u32>,
    errors: u64,
}

fn client(addr: SocketAddr, end: Instant) -> Run {
    let mut run = Run::default();
    let req = format!(
        "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut conn: Option<BufReader<TcpStream>> = None;
    while Instant::now() < end {
        let r = match conn.take() {
            Some(c) => Ok(c),
            None => TcpStream::connect(addr).map(|s| {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                BufReader::new(s)
            }),
        };
        let Ok(mut c) = r else {
            run.errors += 1;
            continue;
        };
        let t = Instant::now();
        match exchange(&mut c, req.as_bytes()) {
            Ok((status, keep)) => {
                run.lat_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                *run.statuses.entry(status).or_default() += 1;
                if keep {
                    conn = Some(c);
                }
            }
            Err(_) => run.errors += 1,
        }
    }
    run
}

/// One request and its response: (status, connection kept open).
fn exchange(c: &mut BufReader<TcpStream>, req: &[u8]) -> std::io::Result<(u16, bool)> {
    c.get_mut().write_all(req)?;
    let mut line = String::new();
    c.read_line(&mut line)?;
    let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let (mut len, mut keep) = (0usize, true);
    loop {
        line.clear();
        c.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().map_err(|_| bad())?,
                "connection" => keep = !v.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; len];
    c.read_exact(&mut body)?;
    Ok((status, keep))
}

fn bad() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "bad response")
}
