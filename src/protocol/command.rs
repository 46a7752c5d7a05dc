//! The command line: the protocol's commands and their arguments, the files they name, the
//! runtime and exit code of a connector process.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use super::message::MessageWriter;
use crate::catalog::ConfiguredCatalog;
use crate::error::{Error, Result, excerpt};

/// A protocol command with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `spec`
    Spec,
    /// `check --config F`
    Check {
        /// Config file.
        config: PathBuf,
    },
    /// `discover --config F`
    Discover {
        /// Config file.
        config: PathBuf,
    },
    /// `read --config F --catalog F [--state F]`
    Read {
        /// Config file.
        config: PathBuf,
        /// Configured catalog file.
        catalog: PathBuf,
        /// State file, if any.
        state: Option<PathBuf>,
    },
    /// `write --config F --catalog F`
    Write {
        /// Config file.
        config: PathBuf,
        /// Configured catalog file.
        catalog: PathBuf,
    },
}

pub(super) const USAGE: &str = "usage: spec | check --config FILE | discover --config FILE | \
    read --config FILE --catalog FILE [--state FILE] | write --config FILE --catalog FILE";

/// Parses the command line (without the program name). Errors are config errors with usage.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command> {
    let mut args = args.into_iter();
    let command = args
        .next()
        .ok_or_else(|| Error::config(format!("no command given; {USAGE}")))?;
    let mut flags: HashMap<String, PathBuf> = HashMap::new();
    while let Some(flag) = args.next() {
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (flag.clone(), None),
        };
        if !matches!(name.as_str(), "--config" | "--catalog" | "--state") {
            return Err(Error::config(format!(
                "unknown argument {}; {USAGE}",
                excerpt(&flag)
            )));
        }
        let value = match value {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| Error::config(format!("{name} needs a file path; {USAGE}")))?,
        };
        if flags.insert(name.clone(), PathBuf::from(value)).is_some() {
            return Err(Error::config(format!("{name} given twice")));
        }
    }
    let mut take = |name: &str| flags.remove(name);
    let required = |v: Option<PathBuf>, name: &str| {
        v.ok_or_else(|| Error::config(format!("{command} needs {name} FILE; {USAGE}")))
    };
    let cmd = match command.as_str() {
        "spec" => Command::Spec,
        "check" => Command::Check {
            config: required(take("--config"), "--config")?,
        },
        "discover" => Command::Discover {
            config: required(take("--config"), "--config")?,
        },
        "read" => Command::Read {
            config: required(take("--config"), "--config")?,
            catalog: required(take("--catalog"), "--catalog")?,
            state: take("--state"),
        },
        "write" => Command::Write {
            config: required(take("--config"), "--config")?,
            catalog: required(take("--catalog"), "--catalog")?,
        },
        other => {
            return Err(Error::config(format!(
                "unknown command {}; {USAGE}",
                excerpt(other)
            )));
        }
    };
    if let Some(extra) = flags.keys().next() {
        return Err(Error::config(format!("{command} does not take {extra}")));
    }
    Ok(cmd)
}

pub(super) async fn read_text(path: &Path, what: &str) -> Result<String> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| Error::config(format!("cannot read {what} file {}: {e}", path.display())))
}

pub(super) async fn read_json(path: &Path, what: &str) -> Result<Value> {
    let text = read_text(path, what).await?;
    serde_json::from_str(&text).map_err(|e| {
        Error::config(format!(
            "the {what} file {} is not valid JSON: {e}",
            path.display()
        ))
    })
}

pub(super) async fn read_catalog(path: &Path) -> Result<ConfiguredCatalog> {
    let text = read_text(path, "catalog").await?;
    ConfiguredCatalog::from_json(&text)
        .map_err(|e| e.context(format!("catalog file {}", path.display())))
}

pub(super) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

pub(super) fn exit(code: i32) -> ExitCode {
    if code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reports a command's result as the protocol asks (a TRACE error) and gives its exit code.
pub(super) fn finish<W: Write>(mut w: MessageWriter<W>, result: Result<()>) -> i32 {
    let code = match &result {
        Ok(()) => 0,
        Err(e) => {
            let _ = w.error(e, None);
            1
        }
    };
    match w.flush() {
        Ok(()) => code,
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(parse_args(args("spec")).unwrap(), Command::Spec);
        assert_eq!(
            parse_args(args("read --config c.yaml --catalog k.txt --state s")).unwrap(),
            Command::Read {
                config: "c.yaml".into(),
                catalog: "k.txt".into(),
                state: Some("s".into())
            }
        );
        assert_eq!(
            parse_args(args("check --config=c")).unwrap(),
            Command::Check { config: "c".into() }
        );
        for bad in [
            "",
            "frobnicate",
            "check",
            "read --config c",
            "check --config",
            "check --config a --bogus b",
            "spec --config c",
        ] {
            let err = parse_args(args(bad)).unwrap_err();
            assert!(err.is_config(), "{bad}: {err}");
        }
    }
}
