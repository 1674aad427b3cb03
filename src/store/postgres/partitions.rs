//! Day partitions of `messages` and `rooms`: made ahead, dropped past the
//! retention.
//!
//! Each table is `PARTITION BY RANGE` on its time column (migration 0003),
//! one partition per UTC day named `<table>_YYYYMMDD`, plus a DEFAULT
//! partition for rows whose day has none (clock skew), so a write never
//! fails for want of a partition.
//!
//! Invariants:
//! - Every function takes the day it works for (`Day`), never reads the
//!   clock itself: tests pass the date they want.
//! - Creating a partition moves the rows the DEFAULT partition holds for
//!   that day into it first (PostgreSQL refuses to attach a range the
//!   DEFAULT partition has rows in), in one transaction under the
//!   migrations' advisory lock, so two instances cannot race.
//! - Retention drops whole partitions (no `DELETE` scans over the day
//!   tables); only the DEFAULT partition, small by construction, is
//!   cleaned with a `DELETE`. Rooms are kept `ROOM_GRACE_DAYS` longer than
//!   messages, so erasure, which finds messages through the rooms of the
//!   user, still finds a room whose messages outlive its start day.
//! - Only tables named by this module's pattern are ever dropped.

use postgres::Client;

/// Partitioned tables and their partition key.
pub const TABLES: [(&str, &str); 2] = [("messages", "sent_at"), ("rooms", "started_at")];
/// Days made ahead of today (today + 2: a day of slack on each hourly check).
pub const AHEAD_DAYS: i64 = 2;
/// Days kept behind today even with a retention of 0: a message sent just
/// before midnight and written just after still finds its partition.
const BEHIND_DAYS: i64 = 1;
/// Extra days rooms are kept past the messages' retention (see above).
pub const ROOM_GRACE_DAYS: i64 = 2;
/// Advisory lock shared with the migrations ("duet" in ASCII).
const LOCK_KEY: i64 = 0x6475_6574;

/// A UTC day: days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// The UTC day of an epoch-milliseconds time.
    pub fn of_millis(ms: u64) -> Day {
        Day((ms / 86_400_000) as i64)
    }

    /// Today, by the system clock (the writer's only clock read).
    pub fn today() -> Day {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Day::of_millis(ms)
    }

    /// The day of a calendar date (proleptic Gregorian; H. Hinnant's
    /// `days_from_civil`).
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Day {
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Day(era * 146_097 + doe - 719_468)
    }

    /// (year, month, day); the inverse of `from_ymd` (`civil_from_days`).
    pub fn ymd(self) -> (i64, u32, u32) {
        let z = self.0 + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    pub fn plus(self, days: i64) -> Day {
        Day(self.0 + days)
    }

    /// `YYYYMMDD`, the partition name's suffix.
    fn suffix(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}{m:02}{d:02}")
    }

    /// The day's first instant, as a timestamptz literal.
    fn start(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}-{m:02}-{d:02} 00:00:00+00")
    }

    /// The day a partition of `table` is for, if `name` is one of ours.
    fn of_partition(table: &str, name: &str) -> Option<Day> {
        let digits = name.strip_prefix(table)?.strip_prefix('_')?;
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
        let day = Day::from_ymd(i64::from(n(0..4)?), n(4..6)?, n(6..8)?);
        (day.suffix() == digits).then_some(day)
    }
}

/// The partition of `table` for `day`.
pub fn partition_name(table: &str, day: Day) -> String {
    format!("{table}_{}", day.suffix())
}

/// What one maintenance pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Maintained {
    /// Partitions made now.
    pub created: Vec<String>,
    /// Partitions dropped now.
    pub dropped: Vec<String>,
    /// Rows past the retention removed from the DEFAULT partitions.
    pub default_rows_removed: u64,
}

/// Makes the partitions of `today - BEHIND_DAYS ..= today + AHEAD_DAYS`
/// and drops those older than `retention_days` before `today`.
pub fn maintain(client: &mut Client, today: Day, retention_days: u32) -> Result<Maintained, postgres::Error> {
    let mut done = Maintained {
        created: ensure(client, today.plus(-BEHIND_DAYS), today.plus(AHEAD_DAYS))?,
        ..Maintained::default()
    };
    let (dropped, removed) = drop_expired(client, today, retention_days)?;
    done.dropped = dropped;
    done.default_rows_removed = removed;
    Ok(done)
}

/// The day partitions `table` has, oldest first.
pub fn partitions(client: &mut Client, table: &str) -> Result<Vec<(Day, String)>, postgres::Error> {
    let rows = client.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = to_regclass($1)",
        &[&table],
    )?;
    let mut out: Vec<(Day, String)> = rows
        .iter()
        .filter_map(|r| r.try_get::<_, String>(0).ok())
        .filter_map(|name| Day::of_partition(table, &name).map(|d| (d, name)))
        .collect();
    out.sort();
    Ok(out)
}

/// Makes the missing partitions of both tables for `from ..= to`; returns
/// their names.
pub fn ensure(client: &mut Client, from: Day, to: Day) -> Result<Vec<String>, postgres::Error> {
    let mut created = Vec::new();
    for (table, key) in TABLES {
        let have: Vec<Day> = partitions(client, table)?.into_iter().map(|(d, _)| d).collect();
        for day in (from.0..=to.0).map(Day).filter(|d| !have.contains(d)) {
            if create(client, table, key, day)? {
                created.push(partition_name(table, day));
            }
        }
    }
    Ok(created)
}

/// Makes one partition, moving the DEFAULT partition's rows of that day
/// into it; false if another instance made it first.
fn create(client: &mut Client, table: &str, key: &str, day: Day) -> Result<bool, postgres::Error> {
    let name = partition_name(table, day);
    let (lo, hi) = (day.start(), day.plus(1).start());
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    let exists: bool = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])?.try_get(0)?;
    if exists {
        return Ok(false);
    }
    tx.batch_execute(&format!(
        "CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
         WITH moved AS (DELETE FROM {table}_default WHERE {key} >= '{lo}' AND {key} < '{hi}' RETURNING *)
         INSERT INTO {name} SELECT * FROM moved;
         ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}');"
    ))?;
    tx.commit()?;
    Ok(true)
}

/// Drops the partitions of days before `today - retention_days` (rooms:
/// `ROOM_GRACE_DAYS` later) and the DEFAULT partitions' rows that old.
/// Returns the dropped names and the rows removed from the defaults.
pub fn drop_expired(
    client: &mut Client,
    today: Day,
    retention_days: u32,
) -> Result<(Vec<String>, u64), postgres::Error> {
    let mut dropped = Vec::new();
    let mut removed = 0;
    for (table, key) in TABLES {
        let grace = if table == "rooms" { ROOM_GRACE_DAYS } else { 0 };
        let oldest_kept = today.plus(-i64::from(retention_days) - grace);
        for (day, name) in partitions(client, table)? {
            if day < oldest_kept {
                let mut tx = client.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
                tx.batch_execute(&format!("DROP TABLE IF EXISTS {name}"))?;
                tx.commit()?;
                dropped.push(name);
            }
        }
        let cutoff = oldest_kept.start();
        removed += client.execute(&format!("DELETE FROM {table}_default WHERE {key} < '{cutoff}'"), &[])?;
    }
    Ok((dropped, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_convert_both_ways_across_leap_years() {
        assert_eq!(Day::from_ymd(1970, 1, 1), Day(0));
        assert_eq!(Day::from_ymd(2000, 3, 1).ymd(), (2000, 3, 1));
        assert_eq!(Day::from_ymd(2024, 2, 29).plus(1).ymd(), (2024, 3, 1));
        assert_eq!(Day::from_ymd(2026, 12, 31).plus(1).ymd(), (2027, 1, 1));
        for n in -800..80_000 {
            let (y, m, d) = Day(n).ymd();
            assert_eq!(Day::from_ymd(y, m, d), Day(n));
        }
        assert_eq!(Day::of_millis(86_400_000 * 3 - 1), Day(2));
    }

    #[test]
    fn only_names_of_the_pattern_are_partitions_of_ours() {
        let day = Day::from_ymd(2026, 12, 5);
        assert_eq!(partition_name("messages", day), "messages_20261205");
        assert_eq!(Day::of_partition("messages", "messages_20261205"), Some(day));
        for other in [
            "messages_default",
            "messages_2026120",
            "messages_20261332",
            "rooms_20261205",
            "messages_x0261205",
        ] {
            assert_eq!(Day::of_partition("messages", other), None, "{other}");
        }
    }
}
