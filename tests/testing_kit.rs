//! The contract test kit itself: mock endpoints in every paging style, filters, faults,
//! counters, fixtures, and the acceptance suite on good and broken connectors.

use intake::testing::{Fault, MockApi};
use serde_json::json;

#[tokio::test]
async fn scoped_faults_end_with_their_guard() {
    let api = MockApi::start().await;
    api.endpoint("/x")
        .records(vec![json!({"id": 1})])
        .mount()
        .await;
    let client = intake::http::reqwest::Client::new();
    let get = || client.get(format!("{}/x", api.uri())).send();
    assert_eq!(get().await.unwrap().status(), 200);
    {
        let _g = api.inject_always(Fault::Unauthorized);
        assert_eq!(get().await.unwrap().status(), 401);
    }
    assert_eq!(get().await.unwrap().status(), 200);
    {
        let _g = api.inject_always(Fault::Forbidden);
        assert_eq!(get().await.unwrap().status(), 403);
    }
}
