//! The limit checks: injected failures retried, the rate limit and the concurrency cap kept.

use super::incremental::full_refresh;
use super::{Acceptance, Outcome, no_mock};
use crate::catalog::{Catalog, ConfiguredCatalog};
use crate::source::ReadOptions;
use crate::state::State;
use crate::testing::mock::Fault;

impl Acceptance<'_> {
    pub(super) async fn check_retries(
        &self,
        catalog: &Catalog,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.mock else {
            return Err(no_mock());
        };
        let Some(first) = catalog.streams.first() else {
            return Err(Outcome::NotApplicable("no stream".into()));
        };
        let configured = ConfiguredCatalog {
            streams: full_refresh(catalog).streams.into_iter().take(1).collect(),
            extra: Default::default(),
        };
        let clean = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("a read without faults failed: {e}")))?;
        let before = mock.requests();
        let _rate_limited = mock.inject(
            Fault::TooManyRequests {
                retry_after: Some("1".into()),
            },
            1,
        );
        let _unavailable = mock.inject(Fault::Status(503), 1);
        let read = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| {
                Outcome::Failed(format!("a read with a 429 and a 503 injected failed: {e}"))
            })?;
        let (got, want) = (read.of(&first.name).len(), clean.of(&first.name).len());
        if got != want {
            return Err(Outcome::Failed(format!(
                "{}: read {got} records with faults injected, {want} without",
                first.name
            )));
        }
        Ok((
            (),
            format!(
                "{}: a 429 (Retry-After: 1) and a 503 retried; {got} records in {} requests",
                first.name,
                mock.requests() - before
            ),
        ))
    }

    pub(super) async fn check_rate_limit(&self) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.mock else {
            return Err(no_mock());
        };
        if !mock.has_rate_limit() {
            return Err(Outcome::Unchecked(
                "the mock has no rate limit (MockApi::rate_limit)".into(),
            ));
        }
        match mock.violations() {
            0 => Ok((
                (),
                format!("{} requests, none over the limit", mock.requests()),
            )),
            n => Err(Outcome::Failed(format!(
                "{n} of {} requests broke the mock's rate limit",
                mock.requests()
            ))),
        }
    }

    pub(super) async fn check_concurrency(&self) -> std::result::Result<((), String), Outcome> {
        let Some(cap) = self.max_concurrency else {
            return Err(Outcome::Unchecked(
                "the connector declares no concurrency cap (Acceptance::max_concurrency)".into(),
            ));
        };
        let Some(mock) = self.mock else {
            return Err(no_mock());
        };
        match mock.max_in_flight() {
            n if n <= cap => Ok(((), format!("at most {n} request(s) in flight, cap {cap}"))),
            n => Err(Outcome::Failed(format!(
                "{n} requests were in flight at once; the cap is {cap}"
            ))),
        }
    }
}
