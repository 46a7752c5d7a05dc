//! What the suite reports: each check passed, failed (with the reason) or skipped.

use std::fmt;

/// The checks, by name.
pub mod checks {
    /// The spec is a valid draft-07 JSON Schema and every secret-looking field is marked secret.
    pub const SPEC: &str = "spec";
    /// `check` succeeds with the good config.
    pub const CHECK: &str = "check";
    /// `check` fails with a config error when the API answers 401.
    pub const CHECK_UNAUTHORIZED: &str = "check_unauthorized";
    /// `check` fails with a config error when the API answers 403.
    pub const CHECK_FORBIDDEN: &str = "check_forbidden";
    /// `discover` returns streams with valid schemas whose properties name the primary key and
    /// cursor fields.
    pub const DISCOVER: &str = "discover";
    /// A full refresh reads every record exactly once, each matching its stream's schema.
    pub const FULL_REFRESH: &str = "full_refresh";
    /// Primary keys are present and unique within a full refresh.
    pub const PRIMARY_KEYS: &str = "primary_keys";
    /// A second incremental read returns only records at or after the first one's cursor.
    pub const INCREMENTAL: &str = "incremental";
    /// Records changed between two incremental reads are in the second one.
    pub const INCREMENTAL_CHANGES: &str = "incremental_changes";
    /// A read from a state far in the future returns no records.
    pub const FUTURE_STATE: &str = "future_state";
    /// A read resumed from a mid-sync checkpoint returns the rest, nothing lost.
    pub const RESUME: &str = "resume";
    /// 429 and 5xx answers are retried to success.
    pub const RETRIES: &str = "retries";
    /// The mock's rate limit is never exceeded.
    pub const RATE_LIMIT: &str = "rate_limit";
    /// The declared concurrency cap is never exceeded.
    pub const CONCURRENCY: &str = "concurrency";
    /// No secret from the config appears in any message or log line.
    pub const SECRETS: &str = "secrets";

    /// With [`crate::testing::Acceptance::cassette`]: the recording was written, or every
    /// replayed request matched a recorded exchange. Not in [`ALL`]: only cassette runs
    /// report it.
    pub const CASSETTE: &str = "cassette";

    /// Every check, in the order the suite runs them.
    pub const ALL: &[&str] = &[
        SPEC,
        CHECK,
        CHECK_UNAUTHORIZED,
        CHECK_FORBIDDEN,
        DISCOVER,
        FULL_REFRESH,
        PRIMARY_KEYS,
        INCREMENTAL,
        INCREMENTAL_CHANGES,
        FUTURE_STATE,
        RESUME,
        RETRIES,
        RATE_LIMIT,
        CONCURRENCY,
        SECRETS,
    ];
}

/// How one check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It passed; what it saw.
    Passed(String),
    /// It failed; why.
    Failed(String),
    /// It did not run because the test said so (`Acceptance::skip`); the test's reason.
    Skipped(String),
    /// It cannot apply to this connector (no incremental stream, no secret in the config); why.
    NotApplicable(String),
    /// It could not run for a reason the test must fix or declare (no mock given, no change
    /// declared, an earlier check failed); counts as a failure.
    Unchecked(String),
}

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The check's name (see [`checks`]).
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// What the suite found.
#[derive(Debug, Clone, Default)]
pub struct AcceptanceReport {
    /// Every check, in the order they ran.
    pub checks: Vec<CheckResult>,
}

impl AcceptanceReport {
    /// The outcome of one check.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_) | Outcome::Unchecked(_)))
            .collect()
    }

    /// Whether no check failed.
    pub fn all_passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// Panics with the whole report when a check failed or could not run; a skip passes only
    /// when the test declared it, a check that cannot apply says why.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        assert!(self.all_passed(), "acceptance suite failed:\n{self}");
    }
}

impl fmt::Display for AcceptanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let (tag, text) = match &c.outcome {
                Outcome::Passed(t) => ("pass", t),
                Outcome::Failed(t) => ("FAIL", t),
                Outcome::Skipped(t) => ("skip", t),
                Outcome::NotApplicable(t) => ("n/a", t),
                Outcome::Unchecked(t) => ("UNCHECKED", t),
            };
            writeln!(f, "{tag:<9} {:<20} {text}", c.name)?;
        }
        Ok(())
    }
}
