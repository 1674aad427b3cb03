//! duet-loadtest: the load harness for duet. This file is the entry: parse
//! the command line, raise the open-file limit, check the per-process
//! socket budget, then run as the parent (coordinate, merge, report) or as
//! a child (run one share, print JSON lines).

mod cli;
mod client;
mod procs;
mod report;
mod result;
mod rng;
mod scenario;
mod sys;
mod target;

use clap::Parser;

use cli::{Cli, Cmd};

/// File descriptors kept free for the poller, stdio and pipes.
const FD_MARGIN: u64 = 64;

fn main() {
    let cli = Cli::parse();
    let nofile = sys::raise_nofile();
    let c = cli.cmd.common();
    if let Some(i) = c.child {
        std::process::exit(procs::child_main(&cli.cmd, usize::from(i)));
    }
    if let Err(e) = check(&cli.cmd, nofile) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    match procs::run_parent(&cli.cmd) {
        Ok((outcome, measured)) => {
            let r = report::build(&cli.cmd, &outcome, &measured);
            report::print(&r, c.json);
            std::process::exit(if r.ok { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// Argument checks that clap cannot express.
fn check(cmd: &Cmd, nofile: u64) -> Result<(), String> {
    let c = cmd.common();
    let k = usize::from(c.procs);
    let per_proc = scenario::share(cmd.total(), k, 0).count as u64;
    if per_proc + FD_MARGIN > nofile {
        let need = (cmd.total() as u64).div_ceil(nofile.saturating_sub(FD_MARGIN).max(1));
        return Err(format!(
            "{per_proc} sockets per process exceed the open-file limit ({nofile}); use --procs {need} or more"
        ));
    }
    if c.source_ips > 0 && c.target.is_ipv6() {
        return Err("--source-ips needs an IPv4 target".into());
    }
    match cmd {
        Cmd::Idle(a) if a.hold_secs < a.settle_secs + 1.0 => Err(format!(
            "--hold-secs ({}) must be at least --settle-secs + 1 ({})",
            a.hold_secs,
            a.settle_secs + 1.0
        )),
        Cmd::Chat(a) if a.conns % 2 == 1 => {
            Err(format!("chat needs an even number of users (got {})", a.conns))
        }
        Cmd::Chat(a) if a.tick_ms <= 0.0 => Err("--tick-ms must be above 0".into()),
        _ => Ok(()),
    }
}
