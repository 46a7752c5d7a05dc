//! The PostgreSQL destination as an Airbyte-protocol executable:
//! `destination-postgres write --config config.json --catalog catalog.json < messages`.

fn main() -> std::process::ExitCode {
    intake::protocol::run_destination(intake_destination_postgres::PostgresDestination::default())
}
