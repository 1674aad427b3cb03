//! The command line: one subcommand per scenario, the flags every scenario
//! shares, and the hidden flags a parent passes to its child processes.

use std::net::SocketAddr;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

use crate::target::parse_target;

const SERVER_HINT: &str = "\
Only loopback targets (127.0.0.0/8, [::1]) are accepted; anything else exits with code 2.

Run the server with generous limits so the harness measures the server, not its rate limiter,
for example:

  DUET_LISTEN=127.0.0.1:8080 DUET_CHAT_RATE=1000000 DUET_CHAT_BURST=1000000 \\
  DUET_QUEUE_RATE=1000 DUET_QUEUE_BURST=1000 DUET_REGISTER_PER_MINUTE=100000000 duet

(the server may not enforce these limits yet; set them anyway so results stay valid when it does).
A process may hold at most 20,000 open files: above ~19,000 connections use --procs 2 or more.
Exit code: 0 = no errors, 1 = errors or lost messages, 2 = bad arguments.";

#[derive(Debug, Parser)]
#[command(
    name = "duet-loadtest",
    version,
    about = "Load harness for duet: drives thousands of real WebSocket clients from mio threads",
    after_help = SERVER_HINT
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Cmd {
    /// Open N connections, register and authenticate each, hold them idle
    /// (answering pings); with --server-pid report memory per connection.
    #[command(after_help = SERVER_HINT)]
    Idle(IdleArgs),
    /// N users paired through the queue chat at --rate msgs/s each; report
    /// throughput, latency, lost/duplicated/reordered messages and CPU per message.
    #[command(after_help = SERVER_HINT)]
    Chat(ChatArgs),
    /// Full sessions back to back (connect, register, auth, queue, match, a
    /// few messages, leave, close) at --concurrency; report sessions/s.
    #[command(after_help = SERVER_HINT)]
    Churn(ChurnArgs),
    /// Many users wait in queues with a spread of moods and interests;
    /// report time-to-match, matches/s and timeouts.
    #[command(after_help = SERVER_HINT)]
    Queue(QueueArgs),
}

impl Cmd {
    pub fn common(&self) -> &Common {
        match self {
            Cmd::Idle(a) => &a.common,
            Cmd::Chat(a) => &a.common,
            Cmd::Churn(a) => &a.common,
            Cmd::Queue(a) => &a.common,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Cmd::Idle(_) => "idle",
            Cmd::Chat(_) => "chat",
            Cmd::Churn(_) => "churn",
            Cmd::Queue(_) => "queue",
        }
    }

    /// Users (idle, chat, queue) or session slots (churn) in the whole run.
    pub fn total(&self) -> usize {
        match self {
            Cmd::Idle(a) => a.conns,
            Cmd::Chat(a) => a.conns,
            Cmd::Churn(a) => a.concurrency,
            Cmd::Queue(a) => a.users,
        }
    }
}

/// How users are spread over the nodes of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Cross,
    Same,
}

impl Split {
    /// The node user `u` connects to, of `nodes` (never empty).
    pub fn node_of(self, nodes: &[SocketAddr], u: u64) -> SocketAddr {
        let n = nodes.len().max(1) as u64;
        let i = match self {
            Split::Cross => u % n,
            Split::Same => (u / 2) % n,
        };
        nodes[i as usize]
    }
}

impl Common {
    /// --target, then --more-targets.
    pub fn nodes(&self) -> Vec<SocketAddr> {
        std::iter::once(self.target).chain(self.more_targets.iter().copied()).collect()
    }
}

/// Flags every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Server address: an IP:port literal on loopback only.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_target)]
    pub target: SocketAddr,
    /// Further nodes of a cluster (comma-separated, loopback only): users
    /// are spread over --target and these as --split says.
    #[arg(long, value_delimiter = ',', value_parser = parse_target)]
    pub more_targets: Vec<SocketAddr>,
    /// With --more-targets: `cross` puts user u on node u mod N, so the
    /// two users of a pair (2k, 2k+1; see chat --pair-interests) sit on
    /// different nodes; `same` puts both of a pair on node k mod N.
    #[arg(long, value_enum, default_value_t = Split::Cross)]
    pub split: Split,
    /// Split the clients over this many child processes (each may hold
    /// at most ~19,900 sockets).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub procs: u16,
    /// Bind client sockets to 127.0.0.1..=127.0.0.N round-robin (more
    /// source ports); 0 = let the kernel choose.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=254))]
    pub source_ips: u8,
    /// The server's pid, to read its memory and CPU from /proc; several
    /// (comma-separated: the nodes of a cluster) are summed.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// A Redis server's pid: its CPU over the window is reported apart.
    #[arg(long)]
    pub redis_pid: Option<u32>,
    /// Print the merged result as one JSON object on stdout (the table
    /// then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Spread the initial connections evenly over this many seconds.
    #[arg(long, default_value_t = 2.0, value_parser = secs_0_3600)]
    pub ramp_secs: f64,
    /// Most connections (per process) between TCP connect and AUTH_OK at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub max_handshakes: u32,
    /// A connection that has not reached AUTH_OK by then counts as a timeout.
    #[arg(long, default_value_t = 10.0, value_parser = secs_0_600)]
    pub handshake_timeout_secs: f64,
    /// Wait for the register response before sending the upgrade (the
    /// default pipelines both requests on the keep-alive socket).
    #[arg(long)]
    pub no_pipeline: bool,
    /// Hard overall deadline in seconds (default: derived from the
    /// scenario's phases plus a margin). Every run stops by itself.
    #[arg(long, value_parser = secs_0_3600)]
    pub deadline_secs: Option<f64>,
    /// Seed for masks, keys, jitter and profiles (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print no progress lines on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// (internal) run as child process number N.
    #[arg(long, hide = true)]
    pub child: Option<u16>,
    /// (internal) the run's shared start, CLOCK_MONOTONIC ns.
    #[arg(long, hide = true)]
    pub t0_ns: Option<u64>,
    /// (internal, idle --chat-pairs) the file in which the parent writes
    /// when the pairs join (CLOCK_MONOTONIC ns), once every process is ready.
    #[arg(long, hide = true)]
    pub go_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Connections to open and authenticate (above ~19,900 use --procs:
    /// at most 64 processes, so ~1.27 M in all).
    #[arg(short = 'n', long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_270_000).map(|v| v as usize))]
    pub conns: usize,
    /// How long to hold the connections once all are authenticated: each
    /// process from its own last AUTH_OK, or with --chat-pairs from the
    /// moment the parent saw every process ready (then the chat starts).
    #[arg(long, default_value_t = 10.0, value_parser = secs_0_3600)]
    pub hold_secs: f64,
    /// After the hold, this many pairs of the held connections chat: pair
    /// k is users 2k and 2k+1, the pairs are picked by a fixed
    /// permutation (spread over processes and nodes), each pair joins with
    /// an interest of its own ("pair<k>") and chats over the connection it
    /// was holding. 0 = no chat phase. Set --deadline-secs to bound the
    /// connect phase (default: 4 x --ramp-secs + 120 s for it).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=600_000).map(|v| v as usize))]
    pub chat_pairs: usize,
    /// With --chat-pairs: time for the pairs to be matched before sending.
    #[arg(long, default_value_t = 5.0, value_parser = secs_0_600)]
    pub chat_match_secs: f64,
    /// With --chat-pairs: messages per second per chatting user.
    #[arg(long, default_value_t = 1.0, value_parser = rate)]
    pub chat_rate: f64,
    /// With --chat-pairs: how long sending lasts.
    #[arg(long, default_value_t = 10.0, value_parser = secs_0_3600)]
    pub chat_secs: f64,
    /// With --chat-pairs: time after sending stops for the last acks and
    /// deliveries.
    #[arg(long, default_value_t = 3.0, value_parser = secs_0_600)]
    pub chat_drain_secs: f64,
    /// A connection whose handshake (connect, register, upgrade, AUTH)
    /// fails is opened again up to this many times, as a real client
    /// would; the retries are counted (`handshake_retries`) and are not
    /// errors. The last failure is.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=10))]
    pub handshake_retries: u8,
    /// Wait this long after the last AUTH_OK before reading memory.
    #[arg(long, default_value_t = 1.0, value_parser = secs_0_600)]
    pub settle_secs: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// Users (N/2 pairs); all join mood "chill" with no interests.
    #[arg(short = 'n', long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=200_000).map(|v| v as usize))]
    pub conns: usize,
    /// Messages per second per user.
    #[arg(long, default_value_t = 10.0, value_parser = rate)]
    pub rate: f64,
    /// Sending lasts this long.
    #[arg(long, default_value_t = 10.0, value_parser = secs_0_3600)]
    pub duration_secs: f64,
    /// Time after the ramp for matching before sending starts.
    #[arg(long, default_value_t = 2.0, value_parser = secs_0_600)]
    pub settle_secs: f64,
    /// Time after sending stops to wait for acks and deliveries.
    #[arg(long, default_value_t = 2.0, value_parser = secs_0_600)]
    pub drain_secs: f64,
    /// Extra bytes of text per message (after the send stamp).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1900).map(|v| v as usize))]
    pub pad_bytes: usize,
    /// Each pair of users (2k, 2k+1) joins with an interest of its own,
    /// so exactly those two are matched (tier 1): with --more-targets and
    /// --split, where rooms sit is chosen, not left to arrival order.
    #[arg(long)]
    pub pair_interests: bool,
    /// Send timers fire on this grid, so sends of many users share one turn.
    #[arg(long, default_value_t = 1.0, value_parser = secs_0_600)]
    pub tick_ms: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct ChurnArgs {
    /// Sessions in flight at once.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=100_000).map(|v| v as usize))]
    pub concurrency: usize,
    /// New sessions start for this long.
    #[arg(long, default_value_t = 10.0, value_parser = secs_0_3600)]
    pub duration_secs: f64,
    /// CHAT messages each user sends per session.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100).map(|v| v as u64))]
    pub msgs: u64,
    /// A session not finished by then counts as a timeout.
    #[arg(long, default_value_t = 10.0, value_parser = secs_0_600)]
    pub session_timeout_secs: f64,
    /// After the duration, time for sessions in flight to finish.
    #[arg(long, default_value_t = 5.0, value_parser = secs_0_600)]
    pub drain_secs: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    /// Users that register, authenticate and join a queue.
    #[arg(short = 'n', long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..=200_000).map(|v| v as usize))]
    pub users: usize,
    /// Moods to spread users over (round-robin).
    #[arg(long, value_delimiter = ',', default_value = "chill,fire,silly,shy", value_parser = mood)]
    pub moods: Vec<String>,
    /// Size of the interest vocabulary (tags tag0..tagN-1).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub interests_vocab: u32,
    /// Interests per user, uniform in LO-HI (the server allows 0-5).
    #[arg(long, default_value = "0-3", value_parser = range_0_5)]
    pub interests_per_user: (u32, u32),
    /// Stop waiting for matches this long after the ramp (set it past the
    /// server's --match-timeout-secs to see every MATCH_CANCELLED).
    #[arg(long, default_value_t = 35.0, value_parser = secs_0_3600)]
    pub max_wait_secs: f64,
    #[command(flatten)]
    pub common: Common,
}

fn secs_in(s: &str, max: f64) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=max).contains(&v) { Ok(v) } else { Err(format!("must be between 0 and {max}")) }
}

fn secs_0_600(s: &str) -> Result<f64, String> {
    secs_in(s, 600.0)
}

fn secs_0_3600(s: &str) -> Result<f64, String> {
    secs_in(s, 3600.0)
}

fn rate(s: &str) -> Result<f64, String> {
    let v = secs_in(s, 100_000.0)?;
    if v > 0.0 { Ok(v) } else { Err("must be above 0".into()) }
}

fn mood(s: &str) -> Result<String, String> {
    match s.trim() {
        m @ ("chill" | "fire" | "silly" | "shy" | "random") => Ok(m.to_string()),
        other => Err(format!("unknown mood '{other}' (chill, fire, silly, shy, random)")),
    }
}

/// `LO-HI` or `N`, within 0..=5.
pub fn range_0_5(s: &str) -> Result<(u32, u32), String> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let lo: u32 = lo.trim().parse().map_err(|_| format!("bad range '{s}'"))?;
    let hi: u32 = hi.trim().parse().map_err(|_| format!("bad range '{s}'"))?;
    if lo <= hi && hi <= 5 {
        Ok((lo, hi))
    } else {
        Err(format!("'{s}' must be LO-HI with 0 <= LO <= HI <= 5"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent_and_parses() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "duet-loadtest",
            "queue",
            "--moods",
            "chill,fire",
            "--interests-per-user",
            "1-2",
            "--target",
            "127.0.0.9:9",
        ])
        .unwrap();
        match cli.cmd {
            Cmd::Queue(q) => {
                assert_eq!(q.moods, vec!["chill", "fire"]);
                assert_eq!(q.interests_per_user, (1, 2));
                assert_eq!(q.common.target.to_string(), "127.0.0.9:9");
            }
            other => panic!("{other:?}"),
        }
        let err = Cli::try_parse_from(["duet-loadtest", "idle", "--target", "10.0.0.1:80"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("only loopback"));
        assert_eq!(range_0_5("3"), Ok((3, 3)));
        assert!(range_0_5("2-6").is_err());
    }
}
