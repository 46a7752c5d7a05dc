//! A throwaway PostgreSQL server for tests: a fresh cluster from the system's `initdb` and
//! `pg_ctl` in a temporary folder, on a free loopback port, stopped when dropped. When
//! `INTAKE_TEST_POSTGRES_URL` is set, that server is used instead. Missing binaries fail the
//! test with instructions; nothing skips silently.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestPostgres {
    pub url: String,
    /// The CA that signed the server's certificate (PEM), when started with TLS.
    pub certificate: Option<String>,
    cluster: Option<(PathBuf, PathBuf)>,
    _dir: Option<tempfile::TempDir>,
}

fn bindir() -> PathBuf {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
                .and_then(|p| p.parent().map(Path::to_path_buf))
        })
    };
    if let Some(dir) = on_path("initdb") {
        return dir;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() {
            return dir;
        }
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    candidates.sort();
    candidates.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL's initdb was not found on PATH, via pg_config, or in /usr/lib/postgresql/*/bin. \
             Install the server binaries (Debian/Ubuntu: `apt-get install -y postgresql`; `.ci/run` does this), \
             or point INTAKE_TEST_POSTGRES_URL at a server you own."
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root (initdb and postgres
/// refuse to run as root).
fn run(bin: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} {:?} failed: {}{}",
        bin.display(),
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPostgres {
    pub fn start() -> TestPostgres {
        TestPostgres::start_with(false, None)
    }

    /// A server that also accepts TLS, with a self-signed certificate for 127.0.0.1.
    pub fn start_tls() -> TestPostgres {
        TestPostgres::start_with(true, None)
    }

    /// A server whose TCP connections need this password (SCRAM-SHA-256); the URL carries it.
    #[allow(dead_code)]
    pub fn start_with_password(password: &str) -> TestPostgres {
        TestPostgres::start_with(false, Some(password))
    }

    fn start_with(tls: bool, password: Option<&str>) -> TestPostgres {
        if let Ok(url) = std::env::var("INTAKE_TEST_POSTGRES_URL")
            && !tls
            && password.is_none()
        {
            return TestPostgres {
                url,
                certificate: None,
                cluster: None,
                _dir: None,
            };
        }
        let bin = bindir();
        let dir = tempfile::Builder::new()
            .prefix("intake-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the test cluster folder failed");
        }
        let d = data.to_str().unwrap();
        let pwfile = dir.path().join("pwfile");
        let auth: Vec<String> = match password {
            Some(pw) => {
                std::fs::write(&pwfile, pw).unwrap();
                vec![
                    "--auth-local=trust".into(),
                    "--auth-host=scram-sha-256".into(),
                    format!("--pwfile={}", pwfile.display()),
                ]
            }
            None => vec!["-A".into(), "trust".into()],
        };
        run(
            &bin.join("initdb"),
            &[
                "-D",
                d,
                &auth[0],
                &auth[1],
                auth.get(2).map_or("--no-instructions", String::as_str),
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = free_port();
        let mut opts = format!(
            "-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        );
        let mut certificate = None;
        if tls {
            // A CA, and a server certificate for 127.0.0.1 signed by it (webpki refuses a
            // CA certificate used as the server's own).
            let work = dir.path();
            let openssl = |args: &[&str]| {
                let status = Command::new("openssl")
                    .args(args)
                    .current_dir(work)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .expect("openssl is needed to make the test server's certificate");
                assert!(status.success(), "openssl {args:?} failed");
            };
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=intake-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            std::fs::write(
                work.join("ext"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext",
                "-out",
                "server.crt",
            ]);
            std::fs::copy(work.join("server.key"), data.join("server.key")).unwrap();
            std::fs::copy(work.join("server.crt"), data.join("server.crt")).unwrap();
            if is_root() {
                let _ = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(data.join("server.key"))
                    .arg(data.join("server.crt"))
                    .status();
            }
            let _ = Command::new("chmod")
                .arg("600")
                .arg(data.join("server.key"))
                .status();
            certificate = Some(std::fs::read_to_string(work.join("ca.crt")).unwrap());
            opts.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        run(
            &bin.join("pg_ctl"),
            &[
                "-D",
                d,
                "-o",
                &opts,
                "-l",
                &format!("{d}/log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        TestPostgres {
            url: match password {
                Some(pw) => format!("postgres://postgres:{pw}@127.0.0.1:{port}/postgres"),
                None => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            },
            certificate,
            cluster: Some((bin, data)),
            _dir: Some(dir),
        }
    }

    /// A database of its own for one test.
    pub async fn database(&self, name: &str) -> String {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .execute(&format!("DROP DATABASE IF EXISTS {name}"), &[])
            .await
            .unwrap();
        client
            .execute(&format!("CREATE DATABASE {name}"), &[])
            .await
            .unwrap();
        let base = self.url.rsplit_once('/').unwrap().0;
        format!("{base}/{name}")
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some((bin, data)) = &self.cluster {
            let d = data.to_str().unwrap_or_default();
            let mut cmd = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join("pg_ctl"));
                c
            } else {
                Command::new(bin.join("pg_ctl"))
            };
            let _ = cmd.args(["-D", d, "-m", "immediate", "stop"]).output();
        }
    }
}
