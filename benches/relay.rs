//! A chat message relayed (1) through the worker path: envelope parse,
//! validation, hub lock, seq, two frames encoded and queued; and (2) end to
//! end over loopback sockets: client frame → reactor → worker → reactor →
//! partner socket, with the sender's ack.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use duet::app::App;
use duet::app::blocklist::Blocklist;
use duet::app::hub::QueueRequest;
use duet::app::room::room_id_str;
use duet::base::clock::Clock;
use duet::base::id::ConnId;
use duet::link::command::Command;
use duet::link::outbox;
use duet::metrics::Metrics;
use duet::store::memory::MemoryStore;
use duet::store::{Mood, Profile, UserId};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Counts allocations (all threads): the worker path is measured on the
/// bench thread with nothing else running, so the count is its own.
struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

fn profile() -> Arc<Profile> {
    Arc::new(Profile {
        nickname: "Bench".into(),
        mood: Mood::Chill,
        avatar: "🦦".into(),
        interests: Box::new([]),
        created_at: 0,
        last_seen_at: 0,
    })
}

fn worker_path(c: &mut Criterion) {
    let poll = mio::Poll::new().expect("poll");
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
    let (out, inbox) = outbox::channel(waker);
    let cfg = duet::Config::for_tests();
    let app = App::new(
        &cfg,
        Arc::new(MemoryStore::new()),
        out,
        Arc::new(Metrics::default()),
        Clock::new(),
        Blocklist::empty(),
        None,
    );
    let (a, b) = (ConnId::new(1, 1), ConnId::new(2, 1));
    let room = {
        let ctx = app.ctx();
        let mut hub = app.hub();
        for (conn, user) in [(a, UserId(1)), (b, UserId(2))] {
            hub.attach(conn, user, profile(), 0);
            let req = QueueRequest { mood: Mood::Chill, random_mode: false, interests: Box::new([]) };
            hub.join(user, req, None, &ctx).expect("queued");
        }
        room_id_str(hub.room_of(UserId(1)).expect("paired"))
    };
    while inbox.rx.try_recv().is_ok() {}
    let text =
        json!({"type":"CHAT","id":"1","payload":{"roomId": room,"text":"hello there, how is your evening?"}})
            .to_string();
    let mut sockets = duet::app::sockets::Sockets::default();
    sockets.open(a, duet::base::addr::ClientAddr::default());
    sockets.get(a).expect("opened").authed = true;
    // Allocations per CHAT in the worker, the command's own text (made
    // by the reactor) not counted.
    let rounds = 10_000;
    let cmds: Vec<Command> =
        (0..rounds).map(|_| Command::Text { conn: a, text: text.as_str().into() }).collect();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for cmd in cmds {
        app.handle(cmd, &mut sockets);
        black_box(inbox.rx.try_recv().expect("push"));
        black_box(inbox.rx.try_recv().expect("ack"));
    }
    let per = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / rounds as f64;
    println!("relay/worker_path: {per:.2} allocations per CHAT in the worker");
    c.bench_function("relay/worker_path", |bench| {
        bench.iter(|| {
            app.handle(Command::Text { conn: a, text: text.as_str().into() }, &mut sockets);
            black_box(inbox.rx.try_recv().expect("push"));
            black_box(inbox.rx.try_recv().expect("ack"));
        })
    });
}

fn connect(addr: std::net::SocketAddr, token: &str) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws/chat"), stream).expect("upgrade");
    ws.send(Message::text(json!({"type":"AUTH","payload":{"token":token}}).to_string())).expect("auth");
    ws
}

fn next_json(ws: &mut WebSocket<TcpStream>) -> Value {
    loop {
        if let Message::Text(t) = ws.read().expect("message") {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

fn register(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).expect("connect");
    let body = r#"{"mood":"chill"}"#;
    write!(s, "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len()).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let json_start = resp.find("\r\n\r\n").expect("head") + 4;
    let v: Value = serde_json::from_str(&resp[json_start..]).expect("json");
    v["authToken"].as_str().expect("token").to_string()
}

fn loopback(c: &mut Criterion) {
    let mut cfg = duet::Config::for_tests();
    cfg.chat_rate = 1e9;
    cfg.chat_burst = 1_000_000_000;
    let server = duet::Server::start(cfg).expect("server");
    let addr = server.local_addr();
    let (mut a, mut b) = (connect(addr, &register(addr)), connect(addr, &register(addr)));
    let join = json!({"type":"JOIN_QUEUE","payload":{"mood":"chill"}}).to_string();
    a.send(Message::text(join.clone())).expect("join");
    b.send(Message::text(join)).expect("join");
    let mut room = String::new();
    for ws in [&mut a, &mut b] {
        loop {
            let v = next_json(ws);
            if v["type"] == "MATCH_FOUND" {
                room = v["payload"]["roomId"].as_str().expect("room").to_string();
                break;
            }
        }
    }
    let msg = json!({"type":"CHAT","payload":{"roomId": room,"text":"hello there"}}).to_string();
    c.bench_function("relay/loopback_round_trip", |bench| {
        bench.iter(|| {
            a.send(Message::text(msg.as_str())).expect("send");
            let got = next_json(&mut b);
            let ack = next_json(&mut a);
            black_box((got, ack))
        })
    });
    drop(server);
}

criterion_group!(benches, worker_path, loopback);
criterion_main!(benches);
