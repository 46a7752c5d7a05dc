//! The SQLite destination as an Airbyte-protocol executable:
//! `destination-sqlite write --config config.json --catalog catalog.json < messages`.

fn main() -> std::process::ExitCode {
    intake::protocol::run_destination(intake_destination_sqlite::SqliteDestination::default())
}
