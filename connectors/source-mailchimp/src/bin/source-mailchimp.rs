//! The Mailchimp source as an Airbyte-protocol executable:
//! `source-mailchimp spec | check --config c.json | discover --config c.json |
//! read --config c.json --catalog catalog.json [--state state.json]`.

fn main() -> std::process::ExitCode {
    intake::protocol::run_source(intake_source_mailchimp::MailchimpSource::new())
}
