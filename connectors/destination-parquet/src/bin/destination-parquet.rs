//! The Parquet destination as an Airbyte-protocol executable:
//! `destination-parquet write --config config.json --catalog catalog.json < messages`.

fn main() -> std::process::ExitCode {
    intake::protocol::run_destination(intake_destination_parquet::ParquetDestination::default())
}
