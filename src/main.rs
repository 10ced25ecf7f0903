use clap::Parser;
use orgsync::cli::{self, Cli, LogFormat};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon reports each run at info; one-shot commands print their own results, so their
    // `sync run` line is left to JSON logs (for collectors) unless ORGSYNC_LOG asks for it.
    let default_level = match (&cli.command, cli.log_format) {
        (cli::Command::Run, _) => "info",
        (_, LogFormat::Json) => "warn,orgsync::runlog=info",
        (_, LogFormat::Text) => "warn,orgsync::runlog=off",
    };
    let filter =
        EnvFilter::try_from_env("ORGSYNC_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colour only on a terminal and never with NO_COLOR; a write to a closed standard error is
    // dropped by the subscriber, not a panic.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(orgsync::term::colour_on(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            orgsync::term::error(&format!("orgsync: cannot start the async runtime: {e}"));
            return ExitCode::from(cli::EXIT_RUNTIME);
        }
    };
    runtime.block_on(cli::run(cli))
}
