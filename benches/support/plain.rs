//! The reference reader: HubSpot-shaped contact pages fetched sequentially over one keep-alive
//! connection, parsing only the next cursor — the floor any connector pays.
#![allow(dead_code)]

use intake::http::reqwest;
use serde::Deserialize;

#[derive(Deserialize)]
struct Paging {
    paging: Option<Next>,
}
#[derive(Deserialize)]
struct Next {
    next: After,
}
#[derive(Deserialize)]
struct After {
    after: String,
}

/// Fetches every page from `{base}/crm/v3/objects/contacts`; returns the pages read.
pub async fn plain_fetch(client: &reqwest::Client, base: &str) -> usize {
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{base}/crm/v3/objects/contacts?limit=100");
        if let Some(a) = &after {
            url.push_str("&after=");
            url.push_str(a);
        }
        let body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        pages += 1;
        let paging: Paging = serde_json::from_slice(&body).unwrap();
        match paging.paging {
            Some(p) => after = Some(p.next.after),
            None => return pages,
        }
    }
}
