//! `healthcare`: serve the API, migrate, create users, seed demo data, check the audit trail.

use clap::Parser;
use healthcare_api::{cli, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Cli::parse();
    if let Err(message) = args.config.check_environment() {
        // As clap answers a bad setting: exit code 2.
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    cli::init_tracing(args.config.log_format);
    let result = match args.command.unwrap_or(Command::Serve) {
        Command::Serve => cli::serve(&args.config),
        Command::Migrate => cli::migrate(&args.config),
        Command::CreateUser {
            username,
            role,
            email,
            password_stdin,
        } => cli::create_user(&args.config, &username, role, &email, password_stdin),
        Command::SeedDemo(opts) => cli::seed_demo(&args.config, &opts),
        Command::Audit(command) => cli::audit(&args.config, &command),
        Command::HealthCheck => cli::health_check(&args.config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
