//! The `duet` binary: parse options, start the server, wait.

use clap::Parser;
use duet::config::{Cli, Command};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut cli = Cli::parse();
    cli.config.handle_signals = true;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match duet::Server::start(cli.config) {
            Ok(server) => {
                server.join();
                log::info!("duet stopped");
            }
            Err(e) => {
                eprintln!("duet: cannot start: {e}");
                std::process::exit(1);
            }
        },
        Command::Migrate { database_url } => {
            let Some(url) = database_url.as_deref().or(cli.config.database_url.as_deref()) else {
                eprintln!("duet migrate: --database-url (or DUET_DATABASE_URL) is required");
                std::process::exit(2);
            };
            match duet::store::postgres::migrate_only(url) {
                Ok(applied) if applied.is_empty() => println!("duet migrate: the schema is up to date"),
                Ok(applied) => println!("duet migrate: applied {applied:?}"),
                Err(e) => {
                    eprintln!("duet migrate: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}
