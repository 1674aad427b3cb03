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
    }
}
