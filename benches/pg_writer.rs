//! How many rows a second the write-behind writer sustains against a real
//! PostgreSQL, with `messages` already holding N rows (docs/pg-writer.md).
//!
//! Not a criterion bench: one run writes hundreds of thousands of rows
//! into a schema that persists between runs, so a shell loop can alternate
//! two builds (old and new writer) on the same machine. Commands:
//!   pg_writer setup <schema> <preload rows>   fresh schema, migrated, preloaded by SQL
//!   pg_writer run <schema> <rows>             push <rows> jobs through the writer, print figures
//!   pg_writer drop <schema>
//! The database is `DUET_BENCH_DATABASE_URL` (default: the test server).
//!
//! The mix is the soak's: 500 rooms chat at once (1,000 users), each room
//! carries 100 messages, then ends; a room is one open and one end event
//! and two last-seen updates (its users' next AUTH), so ~4% of jobs are
//! not messages. Jobs are pushed as fast as the queue takes them, with the
//! queue kept under half full so nothing is dropped; the figure is jobs
//! pushed over the time until a barrier answers.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use duet::store::postgres::writer::{Job, Shared, Writer};
use duet::store::{Event, MessageRow, Mood, RoomRow, UserId};
use postgres::{Client, NoTls};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";
/// The writer's queue, as `--database-queue` defaults.
const QUEUE: usize = 100_000;
/// Rooms chatting at once, and messages per room before it ends.
const ROOMS: usize = 500;
const PER_ROOM: u64 = 100;
const APP: &str = "duet-bench-writer";

fn base_url() -> String {
    std::env::var("DUET_BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn url(schema: &str) -> String {
    format!("{}?options=-csearch_path%3D{schema}", base_url())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match (arg(0), arg(1), arg(2).and_then(|n| n.parse::<u64>().ok())) {
        (Some("setup"), Some(schema), Some(n)) => setup(schema, n),
        (Some("run"), Some(schema), Some(n)) => run(schema, n),
        (Some("drop"), Some(schema), _) => {
            let mut c = Client::connect(&base_url(), NoTls).expect("connect");
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).expect("drop");
        }
        _ => eprintln!("usage: pg_writer setup <schema> <rows> | run <schema> <rows> | drop <schema>"),
    }
}

/// A fresh schema with the migrations applied and `n` message rows loaded
/// by SQL, with the indexes built after the load (fast), as 5,000
/// messages a second of the last `n / 5000` seconds would be.
fn setup(schema: &str, n: u64) {
    let mut c = Client::connect(&base_url(), NoTls).expect("connect");
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        .expect("schema");
    duet::store::postgres::migrate_only(&url(schema)).expect("migrate");
    let mut c = Client::connect(&url(schema), NoTls).expect("connect to the schema");
    make_partitions(&mut c);
    let t = Instant::now();
    let pk: Vec<(String, String)> = c
        .query(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = 'messages'::regclass AND contype = 'p'",
            &[],
        )
        .expect("pk")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let indexes: Vec<(String, String)> = c
        .query(
            "SELECT indexname::text, indexdef FROM pg_indexes
             WHERE schemaname = current_schema() AND tablename = 'messages' AND indexname NOT LIKE '%pkey'",
            &[],
        )
        .expect("indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (name, _) in &pk {
        c.batch_execute(&format!("ALTER TABLE messages DROP CONSTRAINT {name}")).expect("drop pk");
    }
    for (name, _) in &indexes {
        c.batch_execute(&format!("DROP INDEX {name}")).expect("drop index");
    }
    c.batch_execute(&format!(
        "SET maintenance_work_mem = '1GB';
         INSERT INTO messages (room_id, seq, sender, sent_at, length, text)
         SELECT left(md5((g / {PER_ROOM})::text), 16), g % {PER_ROOM} + 1,
                md5((g / {PER_ROOM})::text || (g % 2)::text)::uuid,
                now() - ({n} - g) * interval '200 microseconds', 1 + g % 40, NULL
         FROM generate_series(0, {n} - 1) g;"
    ))
    .expect("preload");
    for (name, def) in &pk {
        c.batch_execute(&format!("ALTER TABLE messages ADD CONSTRAINT {name} {def}")).expect("pk back");
    }
    for (_, def) in &indexes {
        c.batch_execute(def).expect("index back");
    }
    c.batch_execute("VACUUM ANALYZE messages").expect("vacuum");
    c.batch_execute("CHECKPOINT").expect("checkpoint");
    let size: i64 = c
        .query_one(
            "SELECT coalesce(sum(pg_indexes_size(c.oid)), 0)::int8 FROM pg_class c
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname LIKE 'messages%'",
            &[],
        )
        .map_or(0, |r| r.get(0));
    println!(
        "setup {schema}: {n} rows preloaded in {:.1} s; messages indexes {} MB",
        t.elapsed().as_secs_f64(),
        size >> 20
    );
}

/// Makes today's partitions (new layout only; the old one has none).
fn make_partitions(c: &mut Client) {
    // COMPAT-PARTITIONS (removed when built against the old writer)
    use duet::store::postgres::partitions::{self, Day};
    partitions::maintain(c, Day::today(), 30).expect("partitions");
}

fn spawn(schema: &str) -> (Writer, Arc<Shared>) {
    let g = Gauge::default;
    let k = Counter::default;
    // COMPAT-SHARED
    let shared = Arc::new(Shared::new(g(), k(), k(), k(), k(), g()));
    let mut config: postgres::Config = url(schema).parse().expect("url");
    config.application_name(APP);
    // COMPAT-SPAWN
    let writer = Writer::spawn(config, shared.clone(), QUEUE, 30).expect("writer");
    (writer, shared)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A room chatting in the bench.
struct Live {
    row: RoomRow,
    sent: u64,
}

fn new_room(now: u64) -> Live {
    let users = [UserId(rand::random()), UserId(rand::random())];
    Live {
        row: RoomRow { id: rand::random(), users, mood: Mood::Chill, started_at: now, ended: None },
        sent: 0,
    }
}

/// CPU ticks (user + system) of a process or thread, from /proc.
fn ticks(stat: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(stat) else { return 0 };
    let Some(after) = text.rfind(')').map(|i| &text[i + 2..]) else { return 0 };
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// CPU ticks of PostgreSQL's background writers (WAL writer,
/// checkpointer, background writer), which the writer's rows also cost.
/// Other backends are left out: the server is shared with other work.
fn background_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                ["walwriter", "checkpointer", "background writer"].iter().any(|w| c.contains(w))
            })
        })
        .map(|e| ticks(&e.path().join("stat").display().to_string()))
        .sum()
}

/// The writer thread of this process.
fn writer_thread_stat() -> Option<String> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    dir.filter_map(Result::ok)
        .find(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "duet-persist"))
        .map(|e| e.path().join("stat").display().to_string())
}

fn run(schema: &str, jobs: u64) {
    let (writer, shared) = spawn(schema);
    // A write makes the writer connect (the old one connects lazily).
    writer.push(Job::Event(Event::Seen { user: UserId(0), at: now_ms() }));
    writer.barrier(Duration::from_secs(60)).expect("writer up");
    let mut c = Client::connect(&url(schema), NoTls).expect("connect");
    let before: i64 = c.query_one("SELECT count(*) FROM messages", &[]).expect("count").get(0);
    let pid: i32 = c
        .query_one("SELECT pid FROM pg_stat_activity WHERE application_name = $1 LIMIT 1", &[&APP])
        .expect("writer backend")
        .get(0);
    let backend_stat = format!("/proc/{pid}/stat");
    let thread_stat = writer_thread_stat().unwrap_or_default();
    let (b0, p0, w0) = (ticks(&backend_stat), background_ticks(), ticks(&thread_stat));
    let start = Instant::now();
    let mut now = now_ms();
    let mut live: Vec<Live> = (0..ROOMS).map(|_| new_room(now)).collect();
    for l in &live {
        writer.push(Job::Event(Event::Room(l.row.clone())));
    }
    let (mut pushed, mut messages) = (ROOMS as u64, 0u64);
    let mut i = 0;
    while pushed < jobs {
        while shared.backlog.get() as usize > QUEUE / 2 {
            std::thread::sleep(Duration::from_micros(200));
        }
        now += 1;
        let l = &mut live[i % ROOMS];
        i += 1;
        l.sent += 1;
        let m = MessageRow {
            room: l.row.id,
            seq: l.sent,
            sender: l.row.users[(l.sent % 2) as usize],
            sent_at: now,
            length: 1 + (l.sent % 40) as u32,
            text: None,
        };
        writer.push(Job::Event(Event::Message(m)));
        pushed += 1;
        messages += 1;
        if l.sent == PER_ROOM {
            let mut end = l.row.clone();
            end.ended = Some((now, "left"));
            writer.push(Job::Event(Event::Room(end)));
            for user in l.row.users {
                writer.push(Job::Event(Event::Seen { user, at: now }));
            }
            *l = new_room(now);
            writer.push(Job::Event(Event::Room(l.row.clone())));
            pushed += 4;
        }
    }
    writer.barrier(Duration::from_secs(600)).expect("barrier");
    let secs = start.elapsed().as_secs_f64();
    let (b1, p1, w1) = (ticks(&backend_stat), background_ticks(), ticks(&thread_stat));
    let after: i64 = c.query_one("SELECT count(*) FROM messages", &[]).expect("count").get(0);
    let hz = 100.0; // USER_HZ on Linux
    let us_per = |t: u64| t as f64 / hz * 1e6 / pushed as f64;
    println!(
        "run {schema}: messages {before} -> {after}; {pushed} jobs ({messages} messages) in {secs:.2} s = {:.0} jobs/s; \
         CPU per job: writer backend {:.1} us, postgres background writers {:.1} us, duet writer thread {:.1} us; dropped {}, rejected-or-failed {}, batches {}",
        pushed as f64 / secs,
        us_per(b1 - b0),
        us_per(p1 - p0),
        us_per(w1 - w0),
        shared.dropped.get(),
        shared.failed.get(),
        shared.batches.get(),
    );
}
