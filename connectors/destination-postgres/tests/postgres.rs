//! The PostgreSQL destination against a real server the test starts itself: each write mode
//! read back, schema evolution, an interrupted sync, and the protocol path through the binary.

mod support;

use std::sync::{Arc, Mutex};

#[path = "../../../tests/support/rows.rs"]
mod rows;

use intake::{DestinationSyncMode, ReadOptions};
use intake_destination_postgres::PostgresDestination;
use rows::{Src, catalog, day, pipe_read_into, row, schema, source, write_files, write_then_kill};
use serde_json::{Value, json};
use support::TestPostgres;

async fn sync(
    url: &str,
    src: Src,
    mode: DestinationSyncMode,
) -> intake::Result<intake::SyncReport> {
    let c = catalog(&src, mode).await;
    intake::sync(src, json!({}))
        .catalog(c)
        .options(ReadOptions {
            checkpoint_records: 10,
            ..ReadOptions::default()
        })
        .to(PostgresDestination::connect(url))
        .run()
        .await
}

async fn query(url: &str, sql: &str) -> Vec<Vec<Value>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // The text protocol, each value read back as JSON where it parses (numbers, arrays,
    // objects), booleans from t/f, else as a string.
    let messages = client.simple_query(sql).await.unwrap();
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| match r.get(i) {
                        None => Value::Null,
                        Some("t") => json!(true),
                        Some("f") => json!(false),
                        Some(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

async fn ids(url: &str) -> Vec<i64> {
    query(url, "SELECT id FROM public.contacts ORDER BY id")
        .await
        .into_iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_evolution_crashes_and_the_protocol_path() {
    // One server for the whole file (starting one takes a second or two); a database per case.
    let pg = TestPostgres::start();

    // append: typed columns, values read back.
    let url = pg.database("append").await;
    let rows = Arc::new(Mutex::new(
        (1..=25).map(|i| row(i, &day(i as u32))).collect::<Vec<_>>(),
    ));
    let report = sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 25);
    let types = query(&url, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'contacts' ORDER BY ordinal_position").await;
    let types: Vec<(String, String)> = types
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    for (col, ty) in [
        ("id", "bigint"),
        ("name", "text"),
        ("score", "double precision"),
        ("active", "boolean"),
        ("updated_at", "timestamp with time zone"),
        ("birthday", "date"),
        ("tags", "jsonb"),
        ("address", "jsonb"),
        ("_intake_extracted_at", "timestamp with time zone"),
        ("_intake_raw", "jsonb"),
    ] {
        assert!(
            types.contains(&(col.to_string(), ty.to_string())),
            "{col} {ty} in {types:?}"
        );
    }
    let four = query(&url, "SELECT id, name, score, active, updated_at = '2024-01-04T08:00:00Z'::timestamptz, birthday::text, tags, address, _intake_raw FROM contacts WHERE id = 4").await;
    assert_eq!(
        four[0],
        vec![
            json!(4),
            json!("n4"),
            json!(2),
            json!(true),
            json!(true),
            json!("1990-05-17"),
            json!(["a", 4]),
            json!({"city": "Oslo"}),
            Value::Null
        ]
    );
    rows.lock().unwrap().push(row(26, &day(27)));
    sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(ids(&url).await, (1..=26).collect::<Vec<_>>());

    // overwrite: swapped in at the end; a failed one leaves the old table.
    let url = pg.database("overwrite").await;
    let rows = Arc::new(Mutex::new(
        (1..=15).map(|i| row(i, &day(1))).collect::<Vec<_>>(),
    ));
    sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::Overwrite,
    )
    .await
    .unwrap();
    *rows.lock().unwrap() = (100..=104).map(|i| row(i, &day(2))).collect();
    sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::Overwrite,
    )
    .await
    .unwrap();
    assert_eq!(ids(&url).await, (100..=104).collect::<Vec<_>>());
    *rows.lock().unwrap() = (200..=240).map(|i| row(i, &day(3))).collect();
    assert!(
        sync(
            &url,
            source(&rows, schema(), Some(20)),
            DestinationSyncMode::Overwrite
        )
        .await
        .is_err()
    );
    assert_eq!(ids(&url).await, (100..=104).collect::<Vec<_>>());

    // append_dedup: the newest version of each key; a stale re-read changes nothing.
    let url = pg.database("dedup").await;
    let rows = Arc::new(Mutex::new(
        (1..=30)
            .map(|i| row(i, &day(1 + (i % 5) as u32)))
            .collect::<Vec<_>>(),
    ));
    sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    {
        let mut r = rows.lock().unwrap();
        r[2]["name"] = json!("renamed");
        r[2]["updated_at"] = json!(day(20));
        r.push(row(31, &day(21)));
    }
    sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(ids(&url).await, (1..=31).collect::<Vec<_>>());
    let stale = Arc::new(Mutex::new(vec![{
        let mut r = row(3, &day(2));
        r["name"] = json!("stale");
        r
    }]));
    let src = source(&stale, schema(), None);
    let mut c = catalog(&src, DestinationSyncMode::AppendDedup).await;
    c.streams[0].sync_mode = intake::SyncMode::FullRefresh;
    intake::sync(src, json!({}))
        .catalog(c)
        .to(PostgresDestination::connect(&url))
        .run()
        .await
        .unwrap();
    assert_eq!(
        query(&url, "SELECT name FROM contacts WHERE id = 3").await,
        vec![vec![json!("renamed")]]
    );

    // Schema evolution: a new field, a fraction in an integer column, a misfit, a widened type.
    let url = pg.database("evolution").await;
    let mut evolving: Vec<Value> = (1..=12).map(|i| row(i, &day(1))).collect();
    evolving[5]["nickname"] = json!("sixie");
    evolving[6]["visits"] = json!(3);
    evolving[8]["visits"] = json!(3.5);
    evolving[10]["active"] = json!("yes");
    let rows = Arc::new(Mutex::new(evolving));
    let report = sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 12);
    assert_eq!(report.stream("contacts").unwrap().rejected, 1);
    assert_eq!(
        query(&url, "SELECT nickname FROM contacts WHERE id = 6").await,
        vec![vec![json!("sixie")]]
    );
    assert_eq!(
        query(&url, "SELECT data_type FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = 'visits'").await,
        vec![vec![json!("double precision")]]
    );
    assert_eq!(
        query(
            &url,
            "SELECT visits FROM contacts WHERE id IN (7, 9) ORDER BY id"
        )
        .await,
        vec![vec![json!(3)], vec![json!(3.5)]]
    );
    let misfit = &query(
        &url,
        "SELECT active, _intake_raw->>'active', _intake_error FROM contacts WHERE id = 11",
    )
    .await[0];
    assert_eq!((&misfit[0], &misfit[1]), (&Value::Null, &json!("yes")));
    assert!(misfit[2].as_str().unwrap().contains("boolean"));
    let mut wider = schema();
    wider["properties"]["score"] = json!({"type": "string"});
    rows.lock().unwrap().push({
        let mut r = row(13, &day(9));
        r["score"] = json!("high");
        r
    });
    sync(
        &url,
        source(&rows, wider, None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(
        query(
            &url,
            "SELECT score FROM contacts WHERE id IN (4, 13) ORDER BY id"
        )
        .await,
        vec![vec![json!(2)], vec![json!("high")]]
    );
    assert_eq!(
        query(&url, "SELECT data_type FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = 'score'").await,
        vec![vec![json!("text")]]
    );

    // An interrupted sync stores no state ahead of its rows; the rerun is exact.
    let url = pg.database("crash").await;
    let rows = Arc::new(Mutex::new(
        (1..=95)
            .map(|i| row(i, &day(1 + (i / 4) as u32)))
            .collect::<Vec<_>>(),
    ));
    assert!(
        sync(
            &url,
            source(&rows, schema(), Some(50)),
            DestinationSyncMode::AppendDedup
        )
        .await
        .is_err()
    );
    let saved = query(&url, "SELECT state->>'cursor' FROM _intake_state").await;
    let cursor = intake::state::parse_datetime(saved[0][0].as_str().unwrap()).unwrap();
    let present = ids(&url).await;
    for r in rows.lock().unwrap().iter() {
        if intake::state::parse_datetime(r["updated_at"].as_str().unwrap()).unwrap() < cursor {
            assert!(
                present.contains(&r["id"].as_i64().unwrap()),
                "state covers a row that is not there"
            );
        }
    }
    sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::AppendDedup,
    )
    .await
    .unwrap();
    assert_eq!(ids(&url).await, (1..=95).collect::<Vec<_>>());

    // The protocol path: a source's `read` output piped into the destination binary.
    let url = pg.database("protocol").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = Arc::new(Mutex::new(
        (1..=42)
            .map(|i| row(i, &day(1 + (i % 9) as u32)))
            .collect::<Vec<_>>(),
    ));
    write_files(dir.path(), json!({"url": url}), "append_dedup");
    let (states_in, states_out) = pipe_read_into(
        env!("CARGO_BIN_EXE_destination-postgres"),
        dir.path(),
        &rows,
    )
    .await;
    assert!(!states_in.is_empty());
    assert_eq!(states_out, states_in);
    assert_eq!(ids(&url).await, (1..=42).collect::<Vec<_>>());

    // Scenario 11 (lifecycle issue): a NUL character, which PostgreSQL stores in neither text
    // nor JSONB, must not fail the COPY on every rerun: it is kept as U+FFFD and the row says so.
    let url = pg.database("nul").await;
    let mut poisoned = row(1, &day(1));
    poisoned["name"] = json!("a\u{0}b");
    poisoned["address"] = json!({"city": "O\u{0}slo", "note": "\\u0000 stays"});
    let rows = Arc::new(Mutex::new(vec![poisoned, row(2, &day(2))]));
    let report = sync(
        &url,
        source(&rows, schema(), None),
        DestinationSyncMode::Append,
    )
    .await
    .unwrap();
    assert_eq!(report.records_written(), 2);
    let got = query(
        &url,
        "SELECT name, address, _intake_error FROM public.contacts ORDER BY id",
    )
    .await;
    assert_eq!(got[0][0], json!("a\u{FFFD}b"));
    assert_eq!(
        got[0][1],
        json!({"city": "O\u{FFFD}slo", "note": "\\u0000 stays"})
    );
    let error = got[0][2].as_str().unwrap();
    assert!(error.contains("NUL") && error.contains("U+FFFD"), "{error}");
    assert_eq!(got[1][2], Value::Null);

    // A wrong password is a config error that never repeats the URL.
    let url = pg.database("password").await;
    let bad = url.replace("postgres@", "nobody:secret-pw@");
    let err = intake::Destination::check(&PostgresDestination::connect(&bad), &json!({}))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("secret-pw"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_destination_process_keeps_only_acknowledged_state_with_its_rows() {
    let pg = TestPostgres::start();
    let url = pg.database("killed").await;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), json!({"url": url}), "append_dedup");
    let (bin, path) = (
        env!("CARGO_BIN_EXE_destination-postgres"),
        dir.path().to_path_buf(),
    );
    tokio::task::spawn_blocking(move || write_then_kill(bin, &path))
        .await
        .unwrap();
    let saved = query(&url, "SELECT state->>'upto' FROM _intake_state").await;
    assert_eq!(saved, vec![vec![json!(300)]]);
    assert_eq!(ids(&url).await, (1..=300).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_against_the_given_certificate() {
    let pg = TestPostgres::start_tls();
    let url = pg.database("tls").await;
    let pem = pg.certificate.clone().unwrap();
    use intake::Destination;
    use intake_destination_postgres::TlsMode;
    // Required and verified against the server's own certificate.
    let verified = PostgresDestination::connect(&url)
        .tls(TlsMode::Require)
        .ca_certificate(&pem);
    verified.check(&json!({})).await.unwrap();
    let rows = Arc::new(Mutex::new(
        (1..=12).map(|i| row(i, &day(1))).collect::<Vec<_>>(),
    ));
    let src = source(&rows, schema(), None);
    let c = catalog(&src, DestinationSyncMode::AppendDedup).await;
    intake::sync(src, json!({}))
        .catalog(c)
        .to(verified)
        .run()
        .await
        .unwrap();
    assert_eq!(ids(&url).await, (1..=12).collect::<Vec<_>>());
    // (`require` fails rather than fall back to plain TCP, so the sync above ran over TLS; the
    // refusals below show the certificate is checked.)
    // An untrusted certificate is a config error that says what to do.
    for mode in [TlsMode::Require, TlsMode::Prefer] {
        let err = PostgresDestination::connect(&url)
            .tls(mode)
            .check(&json!({}))
            .await
            .unwrap_err();
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains("ca_certificate"), "{err}");
    }
    // Plain TCP when asked.
    PostgresDestination::connect(&url)
        .tls(TlsMode::Disable)
        .check(&json!({}))
        .await
        .unwrap();
    // A certificate that is not PEM is a config error.
    let err = PostgresDestination::connect(&url)
        .tls(TlsMode::Require)
        .ca_certificate("not a certificate")
        .check(&json!({}))
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_parameters_instead_of_a_url() {
    use intake::Destination;
    let pg = TestPostgres::start();
    let _ = pg.database("params").await;
    let port: u16 = pg
        .url
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let dest = PostgresDestination::default();
    let config = json!({"host": "127.0.0.1", "port": port, "user": "postgres", "password": "unused-pw", "database": "params"});
    dest.check(&config).await.unwrap();
    let spec = dest.spec();
    assert_eq!(spec.secret_fields(), vec!["/password", "/url"]);
    let both = json!({"host": "127.0.0.1", "url": "postgres://x@y/z"});
    assert!(dest.check(&both).await.unwrap_err().is_config());
    assert!(dest.check(&json!({})).await.unwrap_err().is_config());
}
