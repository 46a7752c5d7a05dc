//! The Airbyte-protocol runner: every message it prints validates against the protocol schema
//! (spec/airbyte_protocol.yaml, vendored from airbytehq/airbyte-protocol, MIT).

mod support;

use std::sync::Arc;

use intake::destination::jsonl::JsonlDestination;
use intake::protocol::{MessageWriter, run_destination_with, run_source_with};
use intake::{Cursor, Error, Source};
use serde_json::{Value, json};
use support::protocol::*;
use support::*;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn source() -> MemorySource {
    let mut rows = records(250, 5);
    rows.push(json!({"id": 9999, "name": "no cursor"}));
    MemorySource {
        streams: vec![
            Arc::new(
                MemoryStream::new("contacts", rows)
                    .cursor(Cursor::new("updatedAt"))
                    .page_size(100),
            ),
            Arc::new(MemoryStream::new("lists", records(20, 6))),
        ],
    }
}

async fn run(source: &MemorySource, cmd: &str) -> (i32, Vec<Value>) {
    let mut out = Vec::new();
    let code = run_source_with(source, args(cmd), &mut out).await;
    (code, messages(&out))
}

fn kinds(ms: &[Value]) -> Vec<String> {
    ms.iter()
        .map(|m| match m["type"].as_str().unwrap() {
            "TRACE" => format!("TRACE/{}", m["trace"]["type"].as_str().unwrap()),
            t => t.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn spec_check_and_discover_print_valid_messages() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml.anything");
    std::fs::write(&config, "{}").unwrap();
    let src = source();

    let (code, ms) = run(&src, "spec").await;
    assert_eq!((code, kinds(&ms)), (0, vec!["SPEC".to_string()]));
    assert_eq!(ms[0]["spec"]["protocol_version"], "0.3.2");

    let (code, ms) = run(&src, &format!("check --config {}", config.display())).await;
    assert_eq!(code, 0);
    assert_eq!(ms[0]["connectionStatus"]["status"], "SUCCEEDED");

    let (code, ms) = run(&src, &format!("discover --config {}", config.display())).await;
    assert_eq!(code, 0);
    let streams = ms[0]["catalog"]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    assert_eq!(
        streams[0]["supported_sync_modes"],
        json!(["full_refresh", "incremental"])
    );
    assert_eq!(streams[0]["default_cursor_field"], json!(["updatedAt"]));
    assert_eq!(streams[0]["source_defined_primary_key"], json!([["id"]]));
    assert_eq!(streams[1]["supported_sync_modes"], json!(["full_refresh"]));
}

#[tokio::test]
async fn read_prints_records_states_statuses_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let catalog_path = dir.path().join("catalog");
    let state_path = dir.path().join("state");
    std::fs::write(&config, "{}").unwrap();
    let src = source();
    let mut catalog = src.discover(&json!({})).await.unwrap().configure_all();
    // An orchestrator may configure a full-refresh-only stream as incremental.
    catalog.streams[1].sync_mode = intake::SyncMode::Incremental;
    catalog.streams[1].destination_sync_mode = intake::DestinationSyncMode::Append;
    let mut catalog_json = serde_json::to_value(&catalog).unwrap();
    catalog_json["streams"][0]["stream"]["namespace"] = Value::Null;
    catalog_json["streams"][0]["generation_id"] = json!(1);
    std::fs::write(&catalog_path, catalog_json.to_string()).unwrap();
    std::fs::write(&state_path, "[]").unwrap();

    let cmd = format!(
        "read --config {} --catalog {} --state {}",
        config.display(),
        catalog_path.display(),
        state_path.display()
    );
    let (code, ms) = run(&src, &cmd).await;
    assert_eq!(code, 0);
    let records: Vec<&Value> = ms.iter().filter(|m| m["type"] == "RECORD").collect();
    assert_eq!(records.len(), 251 + 20);
    assert!(records.iter().all(|r| r["record"]["emitted_at"].is_i64()));
    let k = kinds(&ms);
    for kind in ["STATE", "LOG", "TRACE/STREAM_STATUS"] {
        assert!(k.contains(&kind.to_string()), "{kind} missing from {k:?}");
    }
    // Every stream that was read ends with a STREAM state and a COMPLETE status.
    for name in ["contacts", "lists"] {
        let last_state = ms
            .iter()
            .rposition(|m| {
                m["type"] == "STATE" && m["state"]["stream"]["stream_descriptor"]["name"] == name
            })
            .unwrap();
        let last_record = ms
            .iter()
            .rposition(|m| m["type"] == "RECORD" && m["record"]["stream"] == name)
            .unwrap();
        assert!(
            last_state > last_record,
            "{name}: state before its last record"
        );
        assert_eq!(ms[last_state]["state"]["type"], "STREAM");
        let complete = ms.iter().any(|m| {
            m["trace"]["stream_status"]["stream_descriptor"]["name"] == name
                && m["trace"]["stream_status"]["status"] == "COMPLETE"
        });
        assert!(complete, "{name} never completed");
    }
    let log = ms.iter().find(|m| m["type"] == "LOG").unwrap();
    assert_eq!(log["log"]["level"], "WARN");
    assert!(
        log["log"]["message"]
            .as_str()
            .unwrap()
            .contains("1 records had no usable cursor")
    );

    // Feed the STATE messages back as the next run's state: nothing new is read.
    let states: Vec<Value> = ms
        .iter()
        .filter(|m| m["type"] == "STATE")
        .map(|m| m["state"].clone())
        .collect();
    std::fs::write(&state_path, Value::Array(states).to_string()).unwrap();
    let (code, ms) = run(&src, &cmd).await;
    assert_eq!(code, 0);
    let contacts = ms
        .iter()
        .filter(|m| m["type"] == "RECORD" && m["record"]["stream"] == "contacts")
        .count();
    assert_eq!(contacts, 1, "only the record without a cursor comes back");
}

#[tokio::test]
async fn errors_are_trace_messages_with_a_failure_type_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let src = source();
    for (cmd, failure) in [
        ("bogus", "config_error"),
        (
            "read --config /nonexistent/c.json --catalog /nonexistent/k.json",
            "config_error",
        ),
        ("check", "config_error"),
    ] {
        let (code, ms) = run(&src, cmd).await;
        assert_eq!(code, 1, "{cmd}");
        assert_eq!(
            ms.last().unwrap()["trace"]["error"]["failure_type"],
            failure,
            "{cmd}"
        );
    }
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let (code, ms) = run(&src, &format!("discover --config {}", bad.display())).await;
    assert_eq!(code, 1);
    assert!(
        ms[0]["trace"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    // A stream failing mid-read: TRACE ERROR, transient, exit 1, and INCOMPLETE status.
    let failing = MemorySource {
        streams: vec![Arc::new(
            MemoryStream::new("contacts", records(100, 1))
                .page_size(10)
                .fail_after(Arc::new(std::sync::atomic::AtomicI64::new(35))),
        )],
    };
    let config = dir.path().join("config");
    let catalog = dir.path().join("catalog");
    std::fs::write(&config, "{}").unwrap();
    std::fs::write(
        &catalog,
        serde_json::to_string(&failing.discover(&json!({})).await.unwrap().configure_all())
            .unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    let code = run_source_with(
        &failing,
        args(&format!(
            "read --config {} --catalog {}",
            config.display(),
            catalog.display()
        )),
        &mut out,
    )
    .await;
    let ms = messages(&out);
    assert_eq!(code, 1);
    let last = ms.last().unwrap();
    assert_eq!(last["trace"]["error"]["failure_type"], "transient_error");
    assert!(
        last["trace"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream \"contacts\"")
    );
    assert!(
        ms.iter()
            .any(|m| m["trace"]["stream_status"]["status"] == "INCOMPLETE")
    );
}

#[test]
fn every_message_the_writer_can_print_is_valid() {
    let mut w = MessageWriter::new(Vec::new());
    let d = intake::StreamDescriptor {
        name: "s".into(),
        namespace: Some("ns".into()),
    };
    w.stream_status(
        &d,
        &intake::StreamStatus::RateLimited {
            reset_at_ms: Some(1_700_000_000_000),
        },
    )
    .unwrap();
    w.stream_status(&d, &intake::StreamStatus::RateLimited { reset_at_ms: None })
        .unwrap();
    w.error(
        &Error::system("boom").with_source(std::io::Error::other("cause")),
        Some(&d),
    )
    .unwrap();
    w.connection_status(Some(&Error::config("bad token")))
        .unwrap();
    w.connector_config(&json!({"refresh_token": "rotated"}))
        .unwrap();
    w.log(intake::source::LogLevel::Debug, "hello\nworld")
        .unwrap();
    let batch = intake::RecordBatch::new(
        Arc::new(d.clone()),
        vec![intake::Record::from_json(r#"{"a": "\"q\""}"#).unwrap()],
    );
    w.records(&batch).unwrap();
    let cp = intake::Checkpoint {
        seq: 1,
        stream: Arc::new(d),
        state: json!({"cursor": 1}),
        records: 1,
    };
    w.state(&cp).unwrap();
    // A stream without state (a null blob, as a STATE on a destination's input may carry):
    // `stream_state` is left out, since the protocol wants an object when it is there.
    let empty = intake::Checkpoint {
        state: Value::Null,
        ..cp
    };
    w.state(&empty).unwrap();
    let ms = messages(&w.into_inner());
    assert_eq!(ms.len(), 9);
    assert!(ms[8]["state"]["stream"].get("stream_state").is_none());
    // The validator really checks: a RECORD without data or emitted_at is refused.
    assert!(!message_validator().is_valid(&json!({"type": "RECORD", "record": {"stream": "s"}})));
    assert!(!message_validator().is_valid(&json!({"type": "STATE", "state": {"type": "NOPE"}})));
    assert_eq!(
        ms[0]["trace"]["stream_status"]["reasons"][0]["type"],
        "RATE_LIMITED"
    );
    assert_eq!(ms[6]["record"]["namespace"], "ns");
    assert_eq!(ms[6]["record"]["data"], json!({"a": "\"q\""}));
    assert_eq!(ms[7]["state"]["sourceStats"]["recordCount"], json!(1.0));
}

#[tokio::test]
async fn a_source_read_piped_into_a_destination_write_echoes_states() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let config = dir.path().join("config");
    let dest_config = dir.path().join("dest_config");
    let catalog_path = dir.path().join("catalog");
    std::fs::write(&config, "{}").unwrap();
    std::fs::write(
        &dest_config,
        json!({"destination_path": out_dir}).to_string(),
    )
    .unwrap();
    let src = source();
    let mut catalog = src.discover(&json!({})).await.unwrap().configure_all();
    catalog.streams[0].destination_sync_mode = intake::DestinationSyncMode::Append;
    std::fs::write(&catalog_path, serde_json::to_string(&catalog).unwrap()).unwrap();

    let mut read_out = Vec::new();
    let code = run_source_with(
        &src,
        args(&format!(
            "read --config {} --catalog {}",
            config.display(),
            catalog_path.display()
        )),
        &mut read_out,
    )
    .await;
    assert_eq!(code, 0);
    let source_states: Vec<Value> = messages(&read_out)
        .into_iter()
        .filter(|m| m["type"] == "STATE")
        .collect();

    let dest = JsonlDestination::default();
    let mut write_out = Vec::new();
    let code = run_destination_with(
        &dest,
        args(&format!(
            "write --config {} --catalog {}",
            dest_config.display(),
            catalog_path.display()
        )),
        &read_out[..],
        &mut write_out,
    )
    .await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&write_out));
    let echoed: Vec<Value> = messages(&write_out)
        .into_iter()
        .filter(|m| m["type"] == "STATE")
        .collect();
    assert_eq!(echoed.len(), source_states.len());
    for (a, b) in echoed.iter().zip(&source_states) {
        assert_eq!(a["state"]["stream"], b["state"]["stream"]);
    }
    assert_eq!(read_jsonl(&out_dir.join("contacts.jsonl")).len(), 251);
    assert_eq!(read_jsonl(&out_dir.join("lists.jsonl")).len(), 20);

    // Destination spec and check; malformed input is a typed error, not a panic.
    let mut out = Vec::new();
    assert_eq!(
        run_destination_with(&dest, args("spec"), &b""[..], &mut out).await,
        0
    );
    let spec = &messages(&out)[0]["spec"];
    assert_eq!(
        spec["supported_destination_sync_modes"],
        json!(["append", "overwrite"])
    );
    let mut out = Vec::new();
    let cmd = format!(
        "write --config {} --catalog {}",
        dest_config.display(),
        catalog_path.display()
    );
    let code = run_destination_with(&dest, args(&cmd), &b"{\"type\":\"RECORD\",\"record\":{\"stream\":\"contacts\",\"data\":{\"id\":1},\"emitted_at\":1}}\n{trunc"[..], &mut out).await;
    assert_eq!(code, 1);
    let ms = messages(&out);
    assert!(
        ms.last().unwrap()["trace"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input line 2")
    );
}

mod hostile {
    //! Property tests: whatever arrives on stdin or in the files a runner is given, the
    //! runner answers with valid protocol messages and an exit code — never a panic.

    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// One input line: a good message, a plausible broken one, or noise.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<i64>(), ".{0,10}").prop_map(|(id, name)| json!({"type": "RECORD",
                "record": {"stream": "contacts", "data": {"id": id, "name": name}, "emitted_at": 1}})
                .to_string()),
            json_value().prop_map(|data| json!({"type": "RECORD",
                "record": {"stream": "lists", "data": data, "emitted_at": 1}})
                .to_string()),
            json_value().prop_map(|blob| json!({"type": "STATE", "state": {"type": "STREAM",
                "stream": {"stream_descriptor": {"name": "contacts"}, "stream_state": blob}}})
                .to_string()),
            json_value().prop_map(|v| json!({"type": "STATE", "state": v}).to_string()),
            json_value().prop_map(|v| v.to_string()),
            "[A-Z]{1,8}".prop_map(|t| json!({"type": t}).to_string()),
            ".{0,40}",
        ]
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn assert_valid(out: &[u8]) {
        let validator = message_validator();
        for m in messages(out) {
            assert!(validator.is_valid(&m), "not a protocol message: {m}");
        }
    }

    /// Found by the property below: a STATE whose `stream_state` is null was echoed with a null
    /// blob, which the protocol does not allow.
    #[test]
    fn a_null_stream_state_is_echoed_without_a_blob() {
        let dir = tempfile::tempdir().unwrap();
        let dest_config = dir.path().join("dest_config");
        let catalog_path = dir.path().join("catalog");
        std::fs::write(
            &dest_config,
            json!({"destination_path": dir.path().join("out")}).to_string(),
        )
        .unwrap();
        let rt = runtime();
        let mut catalog = rt
            .block_on(source().discover(&json!({})))
            .unwrap()
            .configure_all();
        for s in &mut catalog.streams {
            s.destination_sync_mode = intake::DestinationSyncMode::Append;
        }
        std::fs::write(&catalog_path, serde_json::to_string(&catalog).unwrap()).unwrap();
        let input = r#"{"state":{"stream":{"stream_descriptor":{"name":"contacts"},"stream_state":null},"type":"STREAM"},"type":"STATE"}"#;
        let mut out = Vec::new();
        let code = rt.block_on(run_destination_with(
            &JsonlDestination::default(),
            args(&format!(
                "write --config {} --catalog {}",
                dest_config.display(),
                catalog_path.display()
            )),
            input.as_bytes(),
            &mut out,
        ));
        assert_eq!(code, 0);
        assert_valid(&out);
        let echoed: Vec<Value> = messages(&out)
            .into_iter()
            .filter(|m| m["type"] == "STATE")
            .collect();
        assert_eq!(echoed.len(), 1);
        assert!(echoed[0]["state"]["stream"].get("stream_state").is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_destination_input_ends_in_an_exit_code_and_valid_messages(
            lines in prop::collection::vec(line(), 0..12)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let dest_config = dir.path().join("dest_config");
            let catalog_path = dir.path().join("catalog");
            std::fs::write(&dest_config, json!({"destination_path": dir.path().join("out")}).to_string()).unwrap();
            let rt = runtime();
            let mut catalog = rt.block_on(source().discover(&json!({}))).unwrap().configure_all();
            for s in &mut catalog.streams {
                s.destination_sync_mode = intake::DestinationSyncMode::Append;
            }
            std::fs::write(&catalog_path, serde_json::to_string(&catalog).unwrap()).unwrap();
            let input = lines.join("\n");
            let mut out = Vec::new();
            let code = rt.block_on(run_destination_with(
                &JsonlDestination::default(),
                args(&format!("write --config {} --catalog {}", dest_config.display(), catalog_path.display())),
                input.as_bytes(),
                &mut out,
            ));
            prop_assert!(code == 0 || code == 1, "exit {code}");
            assert_valid(&out);
            if code == 1 {
                let traces = messages(&out).into_iter().filter(|m| m["type"] == "TRACE").count();
                prop_assert_eq!(traces, 1, "one error message");
            }
        }

        #[test]
        fn any_config_catalog_or_state_file_is_a_typed_failure_or_a_read(
            config in prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,40}"],
            catalog in prop_oneof![
                json_value().prop_map(|v| v.to_string()),
                json_value().prop_map(|v| json!({"streams": [{"stream": v, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}).to_string()),
                ".{0,40}",
            ],
            state in prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,40}"],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let files = [("config", &config), ("catalog", &catalog), ("state", &state)];
            for (name, text) in files {
                std::fs::write(dir.path().join(name), text).unwrap();
            }
            let p = |n: &str| dir.path().join(n).display().to_string();
            let rt = runtime();
            for cmd in [
                format!("check --config {}", p("config")),
                format!("discover --config {}", p("config")),
                format!("read --config {} --catalog {} --state {}", p("config"), p("catalog"), p("state")),
            ] {
                let mut out = Vec::new();
                let code = rt.block_on(run_source_with(&source(), args(&cmd), &mut out));
                prop_assert!(code == 0 || code == 1, "{cmd}: exit {code}");
                assert_valid(&out);
            }
        }
    }
}
