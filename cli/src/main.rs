//! `intake`: sync any source to any destination, run the offline demo.
//!
//! Exit codes: 0 success; 1 a system failure (a bug, a broken API contract); 2 a config or
//! usage error (fix the config, the credentials or the command); 3 a transient failure (run it
//! again later: the last committed state is kept); 130 interrupted (Ctrl-C; the last committed
//! state is kept; a second Ctrl-C exits without waiting for the destination to close).

mod config;
mod demo;
mod progress;
mod specs;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use intake::source::Namespaced;
use intake::{CancellationToken, Destination, DestinationSyncMode, FailureType, Source, SyncMode};

/// Sync data from SaaS APIs and websites into SQLite, PostgreSQL, Parquet or JSONL.
#[derive(Parser)]
#[command(name = "intake", version, about)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors; no progress and no summary.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the sources, one line each.
    Sources,
    /// Write every connector's spec into a folder (`spec/<connector>.json`), or with `--check`
    /// report the files that differ from the code's specs (exit 2).
    Specs {
        /// The folder. Default `spec`.
        #[arg(default_value = "spec")]
        dir: PathBuf,
        /// Compare instead of writing.
        #[arg(long)]
        check: bool,
    },
    /// Print a source's config spec (JSON Schema).
    Spec {
        /// The source (see `intake sources`).
        source: String,
    },
    /// Check a config: credentials, access, reachability.
    Check {
        /// The source.
        source: String,
        /// The config file (JSON or YAML; `${VAR}` takes an environment variable).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the streams a config gives (the catalog, JSON).
    Discover {
        /// The source.
        source: String,
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Sync a source into a destination. Reruns continue incrementally from the state stored
    /// with the destination.
    Sync {
        /// The source.
        source: String,
        /// The config file.
        #[arg(long)]
        config: PathBuf,
        /// Where to: sqlite:PATH, postgres:URL, parquet:DIR or jsonl:DIR.
        #[arg(long, default_value = "sqlite:./intake.db")]
        to: String,
        /// Only these streams (comma-separated).
        #[arg(long, value_delimiter = ',')]
        streams: Option<Vec<String>>,
        /// Read everything again and replace the tables.
        #[arg(long)]
        full_refresh: bool,
        /// Keep the state in this file instead of the destination.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Put the streams in this namespace (a table prefix in SQLite, a schema in
        /// PostgreSQL), so several sources can share a destination.
        #[arg(long)]
        namespace: Option<String>,
        /// Records per stream between checkpoints (commits). Default 10,000.
        #[arg(long)]
        checkpoint_every: Option<u64>,
    },
    /// Run the offline demo: local sandboxes of HubSpot, Mailchimp, Google Sheets and a
    /// website, synced into SQLite twice (the second run reads only the changes).
    Demo {
        /// The database to write (replaced).
        #[arg(long, default_value = "intake-demo.db")]
        db: PathBuf,
    },
    /// Airbyte declarative (low-code) manifests.
    Manifest {
        #[command(subcommand)]
        action: ManifestCommand,
    },
}

#[derive(Subcommand)]
enum ManifestCommand {
    /// List every component of a manifest with its path and whether intake runs it; exits 1
    /// when one is not supported.
    Lint {
        /// The manifest (YAML or JSON).
        manifest: PathBuf,
    },
}

/// A source the command knows.
pub struct SourceEntry {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line about it.
    pub about: &'static str,
    /// Makes one.
    pub make: fn() -> Arc<dyn Source>,
}

/// The sources, in `intake sources` order.
pub const SOURCES: &[SourceEntry] = &[
    SourceEntry {
        name: "hubspot",
        about: "HubSpot CRM v3: contacts, companies, deals, tickets, engagements, custom objects (private-app token or OAuth)",
        make: || Arc::new(intake_source_hubspot::HubSpotSource::new()),
    },
    SourceEntry {
        name: "mailchimp",
        about: "Mailchimp Marketing API v3: lists, members, campaigns, reports, email activity (API key or OAuth)",
        make: || Arc::new(intake_source_mailchimp::MailchimpSource::new()),
    },
    SourceEntry {
        name: "google-sheets",
        about: "Google Sheets: every tab of a spreadsheet a stream, header rows as columns (service account or OAuth)",
        make: || Arc::new(intake_source_google_sheets::SheetsSource::new()),
    },
    SourceEntry {
        name: "web",
        about: "Web pages: a polite crawler with CSS extraction rules, robots.txt, sitemaps and conditional re-crawls",
        make: || Arc::new(intake_source_web::WebSource::new()),
    },
];

fn source(name: &str) -> anyhow::Result<Arc<dyn Source>> {
    match SOURCES.iter().find(|s| s.name == name) {
        Some(s) => Ok((s.make)()),
        None => Err(intake::Error::config(format!(
            "there is no source \"{name}\"; `intake sources` lists them: {}",
            SOURCES
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// A destination from `--to`.
pub fn destination(to: &str) -> anyhow::Result<Arc<dyn Destination>> {
    let (kind, rest) = match to.split_once(':') {
        Some((k, r)) if !r.starts_with("//") => (k, r),
        // A bare postgres:// URL.
        _ if to.starts_with("postgres://") || to.starts_with("postgresql://") => ("postgres", to),
        _ => (to, ""),
    };
    if rest.is_empty() {
        return Err(intake::Error::config(format!(
            "--to {to}: give sqlite:PATH, postgres:URL, parquet:DIR or jsonl:DIR"
        ))
        .into());
    }
    Ok(match kind {
        "sqlite" => Arc::new(intake_destination_sqlite::SqliteDestination::open(rest)),
        "postgres" | "postgresql" => Arc::new(
            intake_destination_postgres::PostgresDestination::connect(rest),
        ),
        "parquet" => Arc::new(intake_destination_parquet::ParquetDestination::new(rest)),
        "jsonl" => Arc::new(intake::destination::jsonl::JsonlDestination::new(rest)),
        other => {
            return Err(intake::Error::config(format!(
                "--to {to}: unknown destination \"{other}\"; give sqlite:PATH, postgres:URL, parquet:DIR or jsonl:DIR"
            ))
            .into());
        }
    })
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, 2) => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// What one sync prints and returns.
pub struct SyncOptions {
    /// Only these streams.
    pub streams: Option<Vec<String>>,
    /// Read everything again and replace.
    pub full_refresh: bool,
    /// A state file instead of the destination's state.
    pub state: Option<PathBuf>,
    /// A namespace for the streams.
    pub namespace: Option<String>,
    /// Records per stream between checkpoints.
    pub checkpoint_every: Option<u64>,
    /// Show progress and a summary.
    pub show: bool,
}

/// Runs one sync with progress; returns its report.
pub async fn run_sync(
    source: Arc<dyn Source>,
    config: serde_json::Value,
    destination: Arc<dyn Destination>,
    options: SyncOptions,
    cancel: CancellationToken,
) -> anyhow::Result<intake::SyncReport> {
    let source: Arc<dyn Source> = match &options.namespace {
        Some(ns) => Arc::new(Namespaced::new(source, ns.clone())),
        None => source,
    };
    let mut builder = intake::sync(source.clone(), config.clone())
        .to(destination)
        .cancel_on(cancel);
    if options.full_refresh {
        let mut catalog = source.discover(&config).await?.configure_all();
        for s in &mut catalog.streams {
            s.sync_mode = SyncMode::FullRefresh;
            s.destination_sync_mode = DestinationSyncMode::Overwrite;
        }
        builder = builder.catalog(catalog);
    }
    if let Some(streams) = options.streams {
        builder = builder.streams(streams);
    }
    if let Some(path) = options.state {
        builder = builder.state_file(path);
    }
    if let Some(n) = options.checkpoint_every {
        builder = builder.options(intake::ReadOptions {
            checkpoint_records: n.max(1),
            ..Default::default()
        });
    }
    let display = progress::Display::new(options.show);
    let observer = display.clone();
    builder = builder.on_progress(move |p| observer.update(p));
    let (report, error) = builder.run_report().await;
    display.finish();
    if options.show {
        progress::summary(&report);
    }
    if let Some(e) = error {
        return Err(e.into());
    }
    Ok(report)
}

/// `intake manifest lint`: one line per component, then what loading the manifest says.
fn manifest_lint(path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the manifest {}", path.display()))?;
    let manifest = intake_source_declarative::Manifest::from_yaml(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let components = intake_source_declarative::lint::lint(&manifest);
    let missing = components.iter().filter(|c| !c.implemented).count();
    for c in &components {
        let status = if c.implemented {
            "supported"
        } else {
            "NOT SUPPORTED"
        };
        println!("{status:<14} {:<28} {}", c.kind, c.path);
    }
    println!(
        "{} components, {} supported, {missing} not supported",
        components.len(),
        components.len() - missing
    );
    if let Err(e) = intake_source_declarative::DeclarativeSource::from_manifest(manifest) {
        anyhow::bail!("{}: {e}", path.display());
    }
    if missing > 0 {
        anyhow::bail!(
            "{missing} component(s) of {} are not supported",
            path.display()
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let show = !cli.quiet;
    match cli.command {
        Command::Sources => {
            for s in SOURCES {
                println!("{:<14} {}", s.name, s.about);
            }
        }
        Command::Specs { dir, check: false } => {
            let n = specs::write(&dir)?;
            if show {
                println!("wrote {n} specs into {}", dir.display());
            }
        }
        Command::Specs { dir, check: true } => {
            let drifted = specs::drift(&dir)?;
            if !drifted.is_empty() {
                return Err(intake::Error::config(format!(
                    "these specs in {} differ from the code's: {}; run `cargo run -p intake-cli -- specs {}` and commit the files",
                    dir.display(),
                    drifted.join(", "),
                    dir.display()
                ))
                .into());
            }
            if show {
                println!("ok: every spec in {} matches the code", dir.display());
            }
        }
        Command::Spec { source: name } => {
            let spec = source(&name)?.spec();
            println!("{}", serde_json::to_string_pretty(&spec)?);
        }
        Command::Check {
            source: name,
            config,
        } => {
            let config = config::load(&config)?;
            let src = source(&name)?;
            let recording = record_from_env(src.as_ref(), &config)?;
            let checked = src.check(&config).await;
            finish_recording(recording, show)?;
            checked?;
            if show {
                println!("ok: the {name} config checks");
            }
        }
        Command::Discover {
            source: name,
            config,
        } => {
            let config = config::load(&config)?;
            let src = source(&name)?;
            let recording = record_from_env(src.as_ref(), &config)?;
            let catalog = src.discover(&config).await;
            finish_recording(recording, show)?;
            let catalog = catalog?;
            println!("{}", serde_json::to_string_pretty(&catalog)?);
        }
        Command::Sync {
            source: name,
            config,
            to,
            streams,
            full_refresh,
            state,
            namespace,
            checkpoint_every,
        } => {
            let config_value = config::load(&config)?;
            let src = source(&name)?;
            let dest = destination(&to)?;
            let recording = record_from_env(src.as_ref(), &config_value)?;
            let cancel = CancellationToken::new();
            interrupt_on_ctrl_c(cancel.clone());
            let report = run_sync(
                src,
                config_value,
                dest,
                SyncOptions {
                    streams,
                    full_refresh,
                    state,
                    namespace,
                    checkpoint_every,
                    show,
                },
                cancel,
            )
            .await;
            // What was recorded is kept even when the sync failed: the failing exchange is
            // often the one worth replaying.
            finish_recording(recording, show)?;
            let report = report?;
            if let Some(updated) = report.updated_config {
                // A rotated credential: without it the next run may fail to authenticate.
                config::save_updated(&config, &updated)
                    .context("saving the config with the rotated credential")?;
            }
        }
        Command::Demo { db } => {
            let cancel = CancellationToken::new();
            interrupt_on_ctrl_c(cancel.clone());
            demo::run(&db, show, cancel).await?;
        }
        Command::Manifest {
            action: ManifestCommand::Lint { manifest },
        } => manifest_lint(&manifest)?,
    }
    Ok(())
}

/// Starts recording the source's HTTP exchanges when `INTAKE_RECORD` names a folder (see
/// `intake::http::Recording`): every form of the config's secrets replaced by placeholders.
fn record_from_env(
    src: &dyn Source,
    config: &serde_json::Value,
) -> anyhow::Result<Option<intake::http::Recording>> {
    Ok(intake::http::Recording::from_env(&src.spec(), config)?)
}

/// Stops a recording and says where it went.
fn finish_recording(recording: Option<intake::http::Recording>, show: bool) -> anyhow::Result<()> {
    if let Some(recording) = recording {
        let dir = recording.dir().display().to_string();
        let n = recording.finish()?;
        if show {
            eprintln!("recorded {n} exchange(s) into {dir} (secrets replaced by placeholders)");
        }
    }
    Ok(())
}

/// The first Ctrl-C stops the sync gracefully (what is uncommitted is rolled back, the
/// destination closes cleanly); a second one exits at once, for a destination stuck on
/// something outside the sync (a lock held by another session, an unresponsive server). Exiting
/// then is as safe as a crash: state is only ever committed with its data.
fn interrupt_on_ctrl_c(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "interrupted: stopping after the last committed checkpoint (Ctrl-C again to exit now)"
            );
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "interrupted again: exiting now; the last committed checkpoint and its data are kept"
                );
                std::process::exit(130);
            }
        }
    });
}

/// The exit code for an error.
fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<intake::Error>() {
        Some(intake::Error::Cancelled) => 130,
        Some(err) => match err.failure_type() {
            FailureType::ConfigError => 2,
            FailureType::TransientError => 3,
            FailureType::SystemError => 1,
        },
        None => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = exit_code(&e);
            let kind = match code {
                2 => "config error",
                3 => "transient error (run it again later; the last committed state is kept)",
                130 => "interrupted (the last committed state is kept)",
                _ => "error",
            };
            // intake's errors name their kind already ("config error: ..."): not twice.
            let text = format!("{e:#}");
            let text = text
                .strip_prefix("config error: ")
                .or_else(|| text.strip_prefix("transient error: "))
                .unwrap_or(&text);
            eprintln!("{kind}: {text}");
            ExitCode::from(code)
        }
    }
}
