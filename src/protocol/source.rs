//! A source's commands: `spec`, `check`, `discover` and `read`, messages on stdout.

use std::io::Write;
use std::process::ExitCode;

use tokio::sync::mpsc;

use super::command::{
    Command, exit, finish, parse_args, read_catalog, read_json, read_text, runtime,
};
use super::message::MessageWriter;
use crate::error::{Error, Result};
use crate::source::{EventSender, LogLevel, ReadOptions, Source, SourceEvent};
use crate::state::State;

/// Runs a source connector's command line on stdout and returns the process exit code.
pub fn run_source<S: Source>(source: S) -> ExitCode {
    run_source_with_args(source, std::env::args().skip(1).collect())
}

/// [`run_source`] with the arguments given (the command's own, such as a manifest runner's
/// `--manifest-path`, already taken out).
pub fn run_source_with_args<S: Source>(source: S, args: Vec<String>) -> ExitCode {
    let code = match runtime() {
        Ok(rt) => rt.block_on(async {
            let mut w = MessageWriter::new(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            ));
            let result = source_command(&source, args, &mut w, true).await;
            finish(w, result)
        }),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            1
        }
    };
    exit(code)
}

/// Runs a source command with the given arguments, writing messages to `out`. Returns the exit
/// code: 0 on success, 1 on failure (after a TRACE ERROR message).
pub async fn run_source_with<S: Source + ?Sized, W: Write + Send>(
    source: &S,
    args: Vec<String>,
    out: W,
) -> i32 {
    let mut w = MessageWriter::new(std::io::BufWriter::with_capacity(1 << 16, out));
    let result = source_command(source, args, &mut w, false).await;
    finish(w, result)
}

/// Runs one command. With `record_env` (a connector binary), `INTAKE_RECORD=<folder>`
/// records the command's HTTP exchanges into a cassette, the config's secrets replaced.
async fn source_command<S: Source + ?Sized, W: Write + Send>(
    source: &S,
    args: Vec<String>,
    w: &mut MessageWriter<W>,
    record_env: bool,
) -> Result<()> {
    let command = parse_args(args)?;
    let config = match &command {
        Command::Check { config } | Command::Discover { config } | Command::Read { config, .. } => {
            Some(config.clone())
        }
        _ => None,
    };
    #[cfg(feature = "http")]
    let recording = match (record_env, config) {
        (true, Some(path)) => {
            let config = read_json(&path, "config").await?;
            crate::http::Recording::from_env(&source.spec(), &config)?
        }
        _ => None,
    };
    #[cfg(not(feature = "http"))]
    let _ = (record_env, config);
    let result = run_command(source, command, w).await;
    #[cfg(feature = "http")]
    if let Some(r) = recording {
        return result.and(r.finish().map(|_| ()));
    }
    result
}

async fn run_command<S: Source + ?Sized, W: Write + Send>(
    source: &S,
    command: Command,
    w: &mut MessageWriter<W>,
) -> Result<()> {
    let io = |e: std::io::Error| Error::system(format!("writing to stdout: {e}"));
    match command {
        Command::Spec => w.spec(&source.spec()).map_err(io),
        Command::Check { config } => {
            let config = read_json(&config, "config").await?;
            match source.check(&config).await {
                Ok(()) => w.connection_status(None).map_err(io),
                // A config problem is an answer to `check`, not a failure of it.
                Err(e) if e.is_config() => w.connection_status(Some(&e)).map_err(io),
                Err(e) => Err(e),
            }
        }
        Command::Discover { config } => {
            let config = read_json(&config, "config").await?;
            let catalog = source.discover(&config).await?;
            w.catalog(&catalog).map_err(io)
        }
        Command::Read {
            config,
            catalog,
            state,
        } => {
            let config = read_json(&config, "config").await?;
            let catalog = read_catalog(&catalog).await?;
            let state = match state {
                Some(path) => {
                    let text = read_text(&path, "state").await?;
                    State::parse(&text)
                        .map_err(|e| e.context(format!("state file {}", path.display())))?
                }
                None => State::new(),
            };
            let (tx, mut rx) = mpsc::channel(16);
            let options = ReadOptions::default();
            let mut current_config = config.clone();
            let read = source.read(&config, &catalog, &state, &options, EventSender::new(tx));
            let print = async {
                while let Some(event) = rx.recv().await {
                    let written = match &event {
                        SourceEvent::Records(batch) => w.records(batch),
                        SourceEvent::Checkpoint(cp) => w.state(cp).and_then(|_| w.flush()),
                        SourceEvent::Status(d, status) => w.stream_status(d, status),
                        SourceEvent::Log(level, message) => w.log(*level, message),
                        SourceEvent::Metrics(d, m) => w.log(
                            LogLevel::Info,
                            &format!(
                                "stream \"{d}\": {} requests, {} retried, {:.1}s waiting on rate limits",
                                m.requests,
                                m.retries,
                                m.rate_limit_wait.as_secs_f64()
                            ),
                        ),
                        SourceEvent::ConfigUpdate(update) => {
                            update.apply(&mut current_config)?;
                            w.connector_config(&current_config).and_then(|_| w.flush())
                        }
                    };
                    written.map_err(io)?;
                }
                Ok::<(), Error>(())
            };
            let (read, print) = tokio::join!(read, print);
            print?;
            read
        }
        Command::Write { .. } => Err(Error::config(
            "write is a destination command; this is a source",
        )),
    }
}
