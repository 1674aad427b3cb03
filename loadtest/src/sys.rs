//! Readings from the OS: the monotonic clock (shared by all processes, so
//! send times survive a trip to another child), the NOFILE limit, and
//! `/proc` figures (RSS, CPU ticks, socket memory).

use std::fs;

/// CLOCK_MONOTONIC in nanoseconds; the same clock in every process.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Raises the soft NOFILE limit to the hard one; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// Clock ticks per second for `/proc/*/stat` CPU times.
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as u64 } else { 100 }
}

/// Page size for `/proc/net/sockstat` `mem` figures.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

/// utime + stime summed over processes (a cluster's nodes).
pub fn cpu_sum(pids: &[String]) -> Option<u64> {
    pids.iter().map(|p| cpu_ticks(p)).sum()
}

/// Resident memory summed over processes.
pub fn rss_sum(pids: &[String]) -> Option<u64> {
    pids.iter().map(|p| rss_bytes(p)).sum()
}

/// utime + stime of a process (`"self"` or a pid), in clock ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    parse_stat_cpu(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime (fields 14 and 15) from a `/proc/PID/stat` line; the
/// command name may hold spaces, so fields are counted after its `)`.
pub fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = it.next()?.parse().ok()?;
    let stime: u64 = it.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS of a process in bytes.
pub fn rss_bytes(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The socket figures of `/proc/net/sockstat` that the idle report uses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SockStat {
    pub sockets_used: u64,
    pub tcp_inuse: u64,
    pub tcp_tw: u64,
    pub tcp_mem_pages: u64,
}

pub fn sockstat() -> Option<SockStat> {
    Some(parse_sockstat(&fs::read_to_string("/proc/net/sockstat").ok()?))
}

pub fn parse_sockstat(text: &str) -> SockStat {
    let mut s = SockStat::default();
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let head = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        let field = |name: &str| {
            rest.chunks(2).find(|kv| kv[0] == name).and_then(|kv| kv.get(1)?.parse().ok()).unwrap_or(0)
        };
        match head {
            "sockets:" => s.sockets_used = field("used"),
            "TCP:" => {
                s.tcp_inuse = field("inuse");
                s.tcp_tw = field("tw");
                s.tcp_mem_pages = field("mem");
            }
            _ => {}
        }
    }
    s
}

/// Kernel slabs a TCP socket of a mio process lives in: the socket
/// itself, its inode, its file, and its epoll entries.
const SOCKET_SLABS: [&str; 6] =
    ["TCP", "TCPv6", "sock_inode_cache", "filp", "eventpoll_epi", "eventpoll_pwq"];

/// Bytes in use in [`SOCKET_SLABS`] (active objects × object size), from
/// `/proc/slabinfo` (readable by root only).
pub fn socket_slab_bytes() -> Option<u64> {
    parse_slabinfo(&fs::read_to_string("/proc/slabinfo").ok()?)
}

pub fn parse_slabinfo(text: &str) -> Option<u64> {
    let mut total = 0;
    let mut seen = false;
    for line in text.lines() {
        let mut w = line.split_ascii_whitespace();
        let Some(name) = w.next() else { continue };
        if !SOCKET_SLABS.contains(&name) {
            continue;
        }
        let active: u64 = w.next()?.parse().ok()?;
        let _num = w.next()?;
        let size: u64 = w.next()?.parse().ok()?;
        total += active * size;
        seen = true;
    }
    seen.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slabinfo() {
        let text = "slabinfo - version: 2.1\n# name <active_objs> ...\n\
                    TCP 131 182 2368 13 8 : tunables 0 0 0 : slabdata 14 14 0\n\
                    dentry 5 5 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n\
                    filp 10 21 192 21 1 : tunables 0 0 0 : slabdata 1 1 0\n";
        assert_eq!(parse_slabinfo(text), Some(131 * 2368 + 10 * 192));
        assert_eq!(parse_slabinfo("dentry 1 1 1\n"), None);
    }

    #[test]
    fn parses_sockstat_and_stat() {
        let s = parse_sockstat(
            "sockets: used 412\nTCP: inuse 20 orphan 0 tw 3 alloc 25 mem 7\nUDP: inuse 1 mem 2\n",
        );
        assert_eq!(s, SockStat { sockets_used: 412, tcp_inuse: 20, tcp_tw: 3, tcp_mem_pages: 7 });
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 111 222 0 0 20 0";
        assert_eq!(parse_stat_cpu(stat), Some(333));
        assert!(cpu_ticks("self").is_some());
        assert!(rss_bytes("self").unwrap_or(0) > 0);
        assert!(mono_ns() > 0);
    }
}
