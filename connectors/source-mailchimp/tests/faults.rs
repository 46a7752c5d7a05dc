//! The fault matrix for Mailchimp: each fault injected into the sandbox while campaigns are
//! read (offset paging, 3 per page) ends in every record exactly once or in one clear typed
//! error — never a panic or a hang.

use std::time::Duration;

use intake::testing::{Fault, assert_fault_outcome, read_to_end};
use intake::{FailureType, Partition, ReadRequest, Source};
use intake_source_mailchimp::MailchimpSource;
use intake_source_mailchimp::mock::{Sandbox, SandboxSpec};
use serde_json::json;

async fn case(fault: Fault, times: Option<u64>, expect: Result<(), (FailureType, &str)>) {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![10],
        ..SandboxSpec::default()
    })
    .await;
    let mut config = sandbox.config();
    config["page_size"] = json!(3);
    config["request_timeout_seconds"] = json!(1);
    let streams = MailchimpSource::new().streams(&config).await.unwrap();
    let campaigns = streams.iter().find(|s| s.name() == "campaigns").unwrap();
    let _guard = match times {
        Some(n) => sandbox.api().inject(fault, n),
        None => sandbox.api().inject_always(fault),
    };
    let request = ReadRequest::full_refresh("campaigns", Partition::whole());
    let outcome = read_to_end(campaigns.as_ref(), request, Duration::from_secs(120)).await;
    assert_fault_outcome(
        &outcome,
        "id",
        sandbox.expected("campaigns") as usize,
        expect,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_connections_429s_are_retried() {
    let fault = Fault::TooManyRequests {
        retry_after: Some("1".into()),
    };
    case(fault, Some(3), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_burst_is_retried() {
    case(Fault::Status(500), Some(2), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_503_from_the_edge_is_retried() {
    let fault = Fault::Raw {
        status: 503,
        content_type: "text/html".into(),
        body: "<HTML><HEAD><TITLE>Service Unavailable</TITLE></HEAD></HTML>".into(),
    };
    case(fault, Some(2), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_timeout_are_retried() {
    // 3 s against a 1 s timeout.
    case(Fault::Delay(Duration::from_secs(3)), Some(2), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_truncated_bodies_are_retried() {
    case(Fault::Drop, Some(2), Ok(())).await;
    case(Fault::Truncated, Some(2), Ok(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_status_200_is_a_system_error() {
    case(
        Fault::Html,
        Some(1),
        Err((FailureType::SystemError, "unexpected response")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_problem_json_error_is_quoted_in_a_system_error() {
    let fault = Fault::Json {
        status: 400,
        body: json!({"type": "https://mailchimp.com/developer/marketing/docs/errors/",
                     "title": "Invalid Resource", "status": 400, "detail": "Bad offset.",
                     "instance": "f00d"}),
    };
    case(
        fault,
        Some(1),
        Err((FailureType::SystemError, "Invalid Resource")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_key_is_a_config_error() {
    let fault = Fault::Json {
        status: 401,
        body: json!({"type": "https://mailchimp.com/developer/marketing/docs/errors/",
                     "title": "API Key Invalid", "status": 401, "detail": "API key has been disabled",
                     "instance": "beef"}),
    };
    case(
        fault,
        None,
        Err((FailureType::ConfigError, "API Key Invalid")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_is_kept_as_sent() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![10],
        ..SandboxSpec::default()
    })
    .await;
    let mut config = sandbox.config();
    config["page_size"] = json!(3);
    let streams = MailchimpSource::new().streams(&config).await.unwrap();
    let campaigns = streams.iter().find(|s| s.name() == "campaigns").unwrap();
    // One page as a newer API version might send it: a field nobody declared, a count that
    // became a string, a date that became empty.
    let drifted = Fault::Json {
        status: 200,
        body: json!({"campaigns": [
            {"id": "c-new", "type": "regular", "status": "sent", "create_time": "2024-05-01T00:00:00+00:00",
             "send_time": "", "emails_sent": "1,024", "ai_summary": {"tone": "warm"}}
        ], "total_items": 1}),
    };
    let _guard = sandbox.api().inject(drifted, 1);
    let request = ReadRequest::full_refresh("campaigns", Partition::whole());
    let records = read_to_end(campaigns.as_ref(), request, Duration::from_secs(60))
        .await
        .unwrap();
    let r = records[0].to_value().unwrap();
    assert_eq!(r["id"], "c-new");
    assert_eq!(
        r["ai_summary"],
        json!({"tone": "warm"}),
        "a new field is kept"
    );
    assert_eq!(r["emails_sent"], "1,024", "a changed type is kept as sent");
    assert_eq!(
        r["send_time"],
        serde_json::Value::Null,
        "\"\" in a date is null"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_8_pretty_printed_crlf_and_tab_indented_pages_give_one_line_records() {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![10],
        ..SandboxSpec::default()
    })
    .await;
    let config = sandbox.config();
    let streams = MailchimpSource::new().streams(&config).await.unwrap();
    let campaigns = streams.iter().find(|s| s.name() == "campaigns").unwrap();
    let page = json!({"campaigns": [{"id": "c1", "type": "regular", "status": "sent",
        "create_time": "2024-01-01T00:00:00+00:00", "send_time": "",
        "settings": {"subject_line": "Hi\tthere", "title": "A\nB"}}], "total_items": 1});
    for fault in intake::testing::pretty_answers(&page) {
        let _guard = sandbox.api().inject_at("/campaigns", fault, 1);
        let request = ReadRequest::full_refresh("campaigns", Partition::whole());
        let records = read_to_end(campaigns.as_ref(), request, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        assert!(
            !records[0].json().contains(['\n', '\r', '\t']),
            "{}",
            records[0].json()
        );
        let v = records[0].to_value().unwrap();
        assert_eq!(v["settings"]["title"], "A\nB");
    }
}
