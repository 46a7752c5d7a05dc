//! Connector configs: any JSON is parsed and validated as far as it goes without a network.
#![no_main]

use intake::spec::parse_config;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(cfg) = parse_config::<intake_source_hubspot::HubSpotConfig>(&config) {
        let _ = intake_source_hubspot::api(&cfg);
    }
    let _ = parse_config::<intake_source_mailchimp::MailchimpConfig>(&config);
    let _ = parse_config::<intake_source_google_sheets::SheetsConfig>(&config);
    if let Ok(cfg) = intake_source_web::parse(&config) {
        for rule in &cfg.streams {
            let _ = intake_source_web::extract::Rules::compile(rule);
        }
    }
    if let Some(text) = config.as_str() {
        let _ = intake_source_mailchimp::datacenter(text);
        let _ = intake_source_google_sheets::spreadsheet_id(text);
    }
});
