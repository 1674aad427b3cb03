//! Versioned schema migrations, applied at start-up and by `duet migrate`.
//!
//! Invariants: each migration runs at most once per database (schema),
//! inside one transaction together with the row that records it, so a
//! failed migration leaves nothing behind; two instances starting at once
//! are serialised by a transaction-scoped advisory lock, and the second
//! finds the work done. Files are compiled in, so the binary and its
//! schema cannot drift apart.

use log::info;
use postgres::Client;

/// Every migration, oldest first: (version, name, SQL). Versions only grow;
/// an applied migration is never edited, a change is a new file.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (2, "report_addresses", include_str!("migrations/0002_report_addresses.sql")),
    (3, "day_partitions", include_str!("migrations/0003_day_partitions.sql")),
];

/// Advisory lock key: "duet" in ASCII, so it is recognisable in pg_locks.
const LOCK_KEY: i64 = 0x6475_6574;

/// Applies what is missing; returns the versions it applied now.
pub fn run(client: &mut Client) -> Result<Vec<i32>, postgres::Error> {
    run_up_to(client, i32::MAX)
}

/// Applies what is missing up to version `last`: tests make a database in
/// an older layout with it, to test the migrations after.
pub fn run_up_to(client: &mut Client, last: i32) -> Result<Vec<i32>, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS duet_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )?;
    let done: Vec<i32> =
        tx.query("SELECT version FROM duet_migrations", &[])?.iter().map(|r| r.get(0)).collect();
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        if done.contains(&version) || version > last {
            continue;
        }
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO duet_migrations (version, name) VALUES ($1, $2)", &[&version, &name])?;
        info!("database: applied migration {version:04} {name}");
        applied.push(version);
    }
    tx.commit()?;
    Ok(applied)
}
