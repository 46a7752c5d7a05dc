//! The connection: TLS as configured, errors that say what to fix.

use intake::{Error, Result};
use secrecy::ExposeSecret;

use crate::config::{PostgresConfig, TlsMode};

pub(crate) fn connect_error(e: tokio_postgres::Error) -> Error {
    // The error never repeats the URL (it holds the password).
    let mut cause = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.to_ascii_lowercase().contains("certificate") {
        return Error::config(format!(
            "the PostgreSQL server's TLS certificate is not trusted ({cause}): give its CA in ca_certificate, or set tls to disable on a trusted network"
        ));
    }
    let message = format!(
        "cannot connect to PostgreSQL: {}",
        crate::writer::describe(&e)
    );
    if e.as_db_error().is_some() {
        Error::config(message)
    } else {
        Error::transient(message)
    }
}

pub(crate) fn tls_connector(
    cfg: &PostgresConfig,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &cfg.ca_certificate {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert =
                cert.map_err(|e| Error::config(format!("ca_certificate is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| {
                Error::config(format!("ca_certificate is not a usable certificate: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::config("ca_certificate holds no PEM certificate"));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::system(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Connects; the connection task runs on the current runtime.
pub(crate) async fn connect(cfg: &PostgresConfig) -> Result<tokio_postgres::Client> {
    let mut pg = match (&cfg.url, &cfg.host) {
        (Some(url), None) => url.expose_secret().parse::<tokio_postgres::Config>().map_err(|_| {
            Error::config(
                "url is not a PostgreSQL connection URL (postgres://user:password@host:5432/database)",
            )
        })?,
        (None, Some(host)) => {
            let mut pg = tokio_postgres::Config::new();
            let user = cfg.user.clone().unwrap_or_else(|| "postgres".into());
            pg.host(host)
                .port(cfg.port.unwrap_or(5432))
                .dbname(cfg.database.as_deref().unwrap_or(&user))
                .user(&user);
            if let Some(pw) = &cfg.password {
                pg.password(pw.expose_secret());
            }
            pg
        }
        (Some(_), Some(_)) => {
            return Err(Error::config("give either url or host, not both"));
        }
        (None, None) => {
            return Err(Error::config(
                "the config needs url, or host (with user, password and database)",
            ));
        }
    };
    let log = |e: tokio_postgres::Error| {
        tracing::warn!(
            "PostgreSQL connection closed: {}",
            crate::writer::describe(&e)
        );
    };
    match cfg.tls {
        TlsMode::Disable => {
            pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = pg
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(connect_error)?;
            tokio::spawn(async move { connection.await.map_err(log) });
            Ok(client)
        }
        mode => {
            pg.ssl_mode(if mode == TlsMode::Require {
                tokio_postgres::config::SslMode::Require
            } else {
                tokio_postgres::config::SslMode::Prefer
            });
            let (client, connection) = pg
                .connect(tls_connector(cfg)?)
                .await
                .map_err(connect_error)?;
            tokio::spawn(async move { connection.await.map_err(log) });
            Ok(client)
        }
    }
}
