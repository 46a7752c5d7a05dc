//! The requester: how [`HttpApi::send`] composes the layers around one request, outermost
//! first:
//!
//! 1. **retry** ([`RetryPolicy::decide`]) decides after each failed attempt: wait and resend,
//!    pause the whole API, refresh the credentials, or give up;
//! 2. **rate limit** ([`super::ratelimit`]): each attempt waits for a token and a concurrency
//!    slot, so retries spend the quota like any request, and answers' rate-limit headers
//!    tighten it;
//! 3. **auth** ([`super::auth`]): the credentials go on each attempt (a refreshed token on the
//!    next one); a rotated refresh token is reported as a config update;
//! 4. **send** ([`super::send`]): one exchange, the body read under the size cap;
//! 5. **error handler** ([`HttpApi::on_error`]) maps a failed exchange before the retry layer
//!    sees it: an API's bodies often say more than its statuses.
//!
//! A decode failure (a truncated body) counts as a failed exchange, so it is retried too.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, Request, Url};
use serde_json::Value;
use tokio::time::Instant;

use super::client::HttpApi;
use super::error::{ErrorAction, HttpError, HttpErrorKind};
use super::response::Response;
use super::retry::{Decision, Failure, jitter_draw};
use super::send::body_start;
use crate::error::{Error, Result};
use crate::source::StreamContext;

/// Where one request stands across its attempts.
#[derive(Debug, Default)]
struct Attempts {
    made: u32,
    unnamed_failures: u32,
    waited: Duration,
    auth_refreshed: bool,
}

/// A failed attempt, before the error handler: an HTTP failure, or one that never reached
/// the wire (credentials that could not be obtained, a cancel).
enum Attempted {
    Http(HttpError, Option<HeaderMap>),
    Other(Error),
}

/// A failure after the error handler: the error, and what the handler added.
struct Mapped {
    error: Error,
    status: Option<u16>,
    headers: Option<HeaderMap>,
    handler_wait: Option<Duration>,
    handler_failed: bool,
}

impl HttpApi {
    /// A `GET` of `path` parsed as JSON, with retries and rate limiting; for one-off calls
    /// such as a connection check or loading a schema.
    pub async fn get_json(&self, path: &str, ctx: &StreamContext) -> Result<Value> {
        let request = Request::new(Method::GET, self.url(path)?);
        self.send_with(request, None, ctx, |r| r.json::<Value>())
            .await
    }

    /// Sends a request through the layers (retry, rate limit, auth) and reads the body.
    pub async fn send(
        &self,
        request: Request,
        class: Option<&str>,
        ctx: &StreamContext,
    ) -> Result<Response> {
        self.send_with(request, class, ctx, |r| Ok(r.clone())).await
    }

    /// Like [`HttpApi::send`], decoding the body inside the retry loop: a decode failure that
    /// means a truncated transfer is retried like a dropped connection.
    pub async fn send_with<T>(
        &self,
        request: Request,
        class: Option<&str>,
        ctx: &StreamContext,
        decode: impl Fn(&Response) -> std::result::Result<T, HttpErrorKind>,
    ) -> Result<T> {
        let mut attempts = Attempts::default();
        loop {
            attempts.made += 1;
            let attempted = match self.attempt(&request, class, ctx, &decode).await? {
                Ok(value) => return Ok(value),
                Err(attempted) => attempted,
            };
            let mapped = self.map_failure(attempted);
            let mut failure = Failure {
                error: &mapped.error,
                status: mapped.status,
                headers: mapped.headers.as_ref(),
                handler_wait: mapped.handler_wait,
                attempt: attempts.made,
                unnamed_failures: attempts.unnamed_failures,
                waited: attempts.waited,
                auth_refreshed: attempts.auth_refreshed,
                handler_failed: mapped.handler_failed,
                jitter: jitter_draw(),
            };
            if failure.named_wait().is_none() {
                failure.unnamed_failures += 1;
            }
            let mut decision = self.retry.decide(&failure);
            if decision == Decision::RefreshAuth {
                attempts.auth_refreshed = true;
                if self
                    .auth
                    .inner()
                    .unauthorized(&self.transport.client)
                    .await?
                {
                    ctx.count_retry();
                    continue;
                }
                // The credentials cannot be refreshed: decide as for any other failure.
                failure.auth_refreshed = true;
                decision = self.retry.decide(&failure);
            }
            attempts.unnamed_failures = failure.unnamed_failures;
            let wait = match decision {
                Decision::Fail(why) => return Err(why.into_error(mapped.error)),
                Decision::RefreshAuth => {
                    return Err(Error::system("the retry policy asked for a second refresh"));
                }
                Decision::Retry(wait) | Decision::Pause(wait) => wait,
            };
            attempts.waited += wait;
            ctx.count_retry();
            tracing::warn!(
                "{}; retrying in {:.1}s (attempt {})",
                mapped.error.message(),
                wait.as_secs_f64(),
                attempts.made + 1,
            );
            // Either wait wakes when the sync is cancelled: a pause through the limiter's
            // admission (which waits on the context), a retry through the context's sleep.
            if matches!(decision, Decision::Pause(_)) {
                self.limiter.pause_until(Instant::now() + wait);
            } else {
                ctx.sleep(wait).await?;
            }
        }
    }

    /// One attempt through the limiter, auth and send layers. The outer `Result` is an error
    /// that ends the request whatever the policy says (the sync was cancelled while waiting
    /// for a token, a config update could not be delivered).
    async fn attempt<T>(
        &self,
        request: &Request,
        class: Option<&str>,
        ctx: &StreamContext,
        decode: &impl Fn(&Response) -> std::result::Result<T, HttpErrorKind>,
    ) -> Result<std::result::Result<T, Attempted>> {
        let _admission = self.limiter.admit(class, ctx).await?;
        let mut req = request
            .try_clone()
            .ok_or_else(|| Error::system("the request body is a stream and cannot be retried"))?;
        let auth = self.auth.inner();
        let authorized = auth.authorize(&self.transport.client, &mut req).await;
        if let Some(update) = auth.take_config_update() {
            ctx.update_config(update).await?;
        }
        if let Err(e) = authorized {
            return Ok(Err(Attempted::Other(e)));
        }
        ctx.count_request();
        let method = req.method().to_string();
        let url = req.url().clone();
        Ok(match self.transport.exchange(req).await {
            Ok(response) => {
                self.limiter.observe(class, &response.headers);
                match decode(&response) {
                    Ok(value) => Ok(value),
                    Err(kind) => Err(Attempted::Http(
                        self.http_error(&method, &url, kind, Some(body_start(&response.body))),
                        Some(response.headers.clone()),
                    )),
                }
            }
            Err(failed) => {
                if let Some(h) = &failed.headers {
                    self.limiter.observe(class, h);
                }
                let retry_after = failed.headers.as_ref().and_then(super::retry::retry_after);
                let e = self
                    .http_error(&method, &url, failed.kind, failed.body)
                    .with_retry_after(retry_after);
                Err(Attempted::Http(e, failed.headers))
            }
        })
    }

    /// An HTTP failure with its URL and body redacted of the credentials.
    fn http_error(
        &self,
        method: &str,
        url: &Url,
        kind: HttpErrorKind,
        body: Option<String>,
    ) -> HttpError {
        let e = HttpError::new(method, self.auth.redactor().url(url), kind);
        match body {
            Some(body) => e.with_excerpt(&self.redact_text(&body)),
            None => e,
        }
    }

    /// The error handler layer: the API's handler, then intake's default mapping.
    fn map_failure(&self, attempted: Attempted) -> Mapped {
        let (e, headers) = match attempted {
            Attempted::Other(error) => {
                return Mapped {
                    error,
                    status: None,
                    headers: None,
                    handler_wait: None,
                    handler_failed: false,
                };
            }
            Attempted::Http(e, headers) => (e, headers),
        };
        let status = e.status();
        let (error, handler_wait, handler_failed) =
            match self.on_error.as_ref().map(|handler| handler(&e)) {
                Some(ErrorAction::Fail(error)) => {
                    let error = if std::error::Error::source(&error).is_none() {
                        error.with_source(e)
                    } else {
                        error
                    };
                    (error, None, true)
                }
                // Retried like a transient failure, with the handler's wait.
                Some(ErrorAction::Retry(wait)) => {
                    (Error::transient(e.to_string()).with_source(e), wait, false)
                }
                _ => (e.into_error(), None, false),
            };
        Mapped {
            error,
            status,
            headers,
            handler_wait,
            handler_failed,
        }
    }
}
