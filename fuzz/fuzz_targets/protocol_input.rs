//! Lines on a destination's stdin (Airbyte protocol messages): fed as `write` feeds them,
//! they become destination messages or one typed error.
#![no_main]

use std::sync::OnceLock;

use intake::ConfiguredCatalog;
use libfuzzer_sys::fuzz_target;

fn catalog() -> &'static ConfiguredCatalog {
    static CATALOG: OnceLock<ConfiguredCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_value(serde_json::json!({"streams": [
            {"stream": {"name": "contacts", "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
             "sync_mode": "incremental", "destination_sync_mode": "append_dedup", "primary_key": [["id"]]},
            {"stream": {"name": "lists", "namespace": "crm", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
             "sync_mode": "full_refresh", "destination_sync_mode": "append"}
        ]}))
        .expect("the catalog")
    })
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _ = rt.block_on(intake::fuzz::destination_input(data, catalog()));
});
