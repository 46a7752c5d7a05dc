//! The web source as an Airbyte-protocol executable:
//! `source-web spec | check --config c.json | discover --config c.json |
//! read --config c.json --catalog catalog.json [--state state.json]`.

fn main() -> std::process::ExitCode {
    intake::protocol::run_source(intake_source_web::WebSource::new())
}
