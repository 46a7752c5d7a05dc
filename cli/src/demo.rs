//! `intake demo`: local sandboxes of HubSpot, Mailchimp and Google Sheets (the connectors' own
//! mock APIs, with generated data, real paging, rate limits and incremental filters) and a small
//! website, synced into one SQLite file; then some records change and a second sync reads only
//! the changes.

use std::path::Path;
use std::sync::Arc;

use intake::{CancellationToken, Destination, Source, SyncReport};
use serde_json::{Value, json};

use crate::{SyncOptions, run_sync};

struct Sandboxes {
    hubspot: intake_source_hubspot::mock::Sandbox,
    mailchimp: intake_source_mailchimp::mock::Sandbox,
    sheets: intake_source_google_sheets::mock::Sandbox,
    web: intake_source_web::mock::FixtureSite,
}

impl Sandboxes {
    async fn start() -> Sandboxes {
        use intake_source_hubspot::mock as hs;
        Sandboxes {
            hubspot: hs::Sandbox::start(hs::SandboxSpec {
                requests_per_10_seconds: 190,
                ..hs::SandboxSpec::default()
            })
            .await,
            mailchimp: intake_source_mailchimp::mock::Sandbox::start(Default::default()).await,
            sheets: intake_source_google_sheets::mock::Sandbox::start(
                intake_source_google_sheets::mock::spreadsheet(600),
                600,
            )
            .await,
            web: intake_source_web::mock::FixtureSite::start().await,
        }
    }

    /// The four sources, their configs and one line about each sandbox.
    fn sources(&self) -> Vec<(&'static str, Arc<dyn Source>, Value, String)> {
        let mut sheets = self.sheets.config();
        sheets["requests_per_minute"] = json!(600);
        // The sandbox's search index has no lag to cover: no lookback, so the second sync shows
        // exactly the changes (a real portal keeps the default minute).
        let mut hubspot = self.hubspot.config();
        hubspot["lookback_minutes"] = json!(0);
        vec![
            (
                "hubspot",
                Arc::new(intake_source_hubspot::HubSpotSource::new()) as Arc<dyn Source>,
                hubspot,
                format!(
                    "HubSpot CRM at {} ({} contacts, 190 requests per 10 s, search at 4/s)",
                    self.hubspot.api().uri(),
                    self.hubspot.count("contacts", false) + self.hubspot.count("contacts", true)
                ),
            ),
            (
                "mailchimp",
                Arc::new(intake_source_mailchimp::MailchimpSource::new()),
                self.mailchimp.config(),
                format!(
                    "Mailchimp at {} ({} lists, {} members, at most 10 connections)",
                    self.mailchimp.api().uri(),
                    self.mailchimp.lists().len(),
                    self.mailchimp.expected("list_members")
                ),
            ),
            (
                "sheets",
                Arc::new(intake_source_google_sheets::SheetsSource::new()),
                sheets,
                format!(
                    "Google Sheets at {} (a spreadsheet of 6 tabs; the token endpoint checks the service account's JWT)",
                    self.sheets.api().uri()
                ),
            ),
            (
                "web",
                Arc::new(intake_source_web::WebSource::new()),
                self.web.config(),
                format!(
                    "a website at {} (robots.txt with a crawl delay, a gzipped sitemap, products and articles)",
                    self.web.uri()
                ),
            ),
        ]
    }

    /// Changes records in every sandbox; says what changed.
    fn change(&self) -> Vec<String> {
        let contacts = self.hubspot.touch("contacts", 25);
        let deals = self.hubspot.create("deals", 5);
        let list = self.mailchimp.lists()[0].clone();
        let members = self.mailchimp.touch_members(&list, 10);
        self.mailchimp.create_campaign();
        self.sheets.append(
            "Orders",
            (0..5)
                .map(|i| {
                    vec![
                        json!(90_000 + i),
                        json!("New customer"),
                        json!(10.0 * i as f64),
                        json!(true),
                        json!("2024-12-01"),
                    ]
                })
                .collect(),
        );
        let (product, article) = self.web.change();
        vec![
            format!(
                "hubspot: {} contacts modified, {} deals created",
                contacts.len(),
                deals.len()
            ),
            format!(
                "mailchimp: {} members of list {list} changed, 1 campaign created",
                members.len()
            ),
            "sheets: 5 rows appended to the Orders tab".into(),
            format!("web: product {product}'s price and article {article} edited"),
        ]
    }
}

fn remove_database(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn round(
    title: &str,
    sandboxes: &Sandboxes,
    destination: &Arc<dyn Destination>,
    show: bool,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<(&'static str, SyncReport)>> {
    if show {
        println!("\n== {title} ==");
    }
    let mut reports = Vec::new();
    for (name, source, config, _) in sandboxes.sources() {
        if show {
            println!("\n-- {name} --");
        }
        let report = run_sync(
            source,
            config,
            destination.clone(),
            SyncOptions {
                streams: None,
                full_refresh: false,
                state: None,
                namespace: Some(name.to_string()),
                checkpoint_every: None,
                show,
            },
            cancel.clone(),
        )
        .await?;
        reports.push((name, report));
    }
    Ok(reports)
}

/// Runs the demo into `db`.
pub async fn run(db: &Path, show: bool, cancel: CancellationToken) -> anyhow::Result<()> {
    remove_database(db)?;
    let sandboxes = Sandboxes::start().await;
    if show {
        println!("intake demo: four local sandboxes, no network, no credentials:");
        for (_, _, _, about) in sandboxes.sources() {
            println!("  - {about}");
        }
        println!("Everything lands in {} (SQLite).", db.display());
    }
    let destination: Arc<dyn Destination> =
        Arc::new(intake_destination_sqlite::SqliteDestination::open(db));
    let first = round(
        "first sync: everything",
        &sandboxes,
        &destination,
        show,
        &cancel,
    )
    .await?;
    let changes = sandboxes.change();
    if show {
        println!("\n== meanwhile, in the sandboxes ==");
        for c in &changes {
            println!("  - {c}");
        }
    }
    let second = round(
        "second sync: incremental, from the state stored in the database",
        &sandboxes,
        &destination,
        show,
        &cancel,
    )
    .await?;
    if show {
        println!("\n== what happened ==");
        println!(
            "{:<10} {:>14} {:>14}",
            "source", "first sync", "second sync"
        );
        for ((name, a), (_, b)) in first.iter().zip(&second) {
            let changed: Vec<String> = b
                .streams
                .iter()
                .filter(|(_, s)| s.records_written > 0)
                .map(|(d, s)| format!("{} {}", s.records_written, d.name))
                .collect();
            println!(
                "{:<10} {:>14} {:>14}   {}",
                name,
                format!("{} records", a.records_written()),
                format!("{} records", b.records_written()),
                changed.join(", ")
            );
        }
        println!(
            "\nIncremental streams read only what changed. Full-refresh streams (pipelines, Mailchimp's tags and\nsegment members, every Google Sheets tab: Sheets has no change feed) are read again in full; the\nwebsite answered 304 Not Modified for every unchanged page."
        );
        println!("\nLook at the result:");
        println!("  sqlite3 {} '.tables'", db.display());
        println!(
            "  sqlite3 -header -column {} 'SELECT id, properties_email, properties_lifecyclestage, updatedAt FROM hubspot__contacts ORDER BY updatedAt DESC LIMIT 5'",
            db.display()
        );
        println!(
            "  sqlite3 -header -column {} 'SELECT name, price, url FROM web__products'",
            db.display()
        );
        println!(
            "  sqlite3 {} 'SELECT stream, state FROM _intake_state'",
            db.display()
        );
    }
    Ok(())
}
