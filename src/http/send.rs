//! The innermost layer: one exchange on the wire. Default headers go on the request, the
//! body is read under the size cap, and a status that is not a success comes back as a
//! failure carrying the headers and the start of the body. Nothing here retries, waits or
//! knows credentials.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{Client, Request};

use super::error::{HttpErrorKind, transport_error_kind};
use super::response::Response;

/// How much of an error body is kept for the error message and the error handler.
const ERROR_BODY_BYTES: usize = 2048;

/// Sends requests: the HTTP client, the timeout, the headers every request carries and the
/// largest body accepted.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) client: Client,
    pub(crate) timeout: Option<Duration>,
    pub(crate) headers: HeaderMap,
    pub(crate) max_response_bytes: u64,
}

/// A failed exchange: what went wrong and, when the server answered, its headers and the
/// start of its body.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) kind: HttpErrorKind,
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) body: Option<String>,
}

impl Failed {
    fn new(kind: HttpErrorKind, headers: Option<HeaderMap>) -> Self {
        Failed {
            kind,
            headers,
            body: None,
        }
    }
}

/// The start of a body, for an error (lossy UTF-8, at most [`ERROR_BODY_BYTES`]).
pub(crate) fn body_start(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_BYTES)]).into_owned()
}

impl Transport {
    /// One exchange: send, then read the body under the cap.
    pub(crate) async fn exchange(&self, mut req: Request) -> Result<Response, Failed> {
        for (name, value) in &self.headers {
            if !req.headers().contains_key(name) {
                req.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if !req.headers().contains_key(USER_AGENT) {
            req.headers_mut().insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("intake/", env!("CARGO_PKG_VERSION"))),
            );
        }
        *req.timeout_mut() = self.timeout;
        // What a cassette recording needs of the request, kept only while one is active.
        let recorded = super::record::Exchange::recording().then(|| {
            (
                req.method().to_string(),
                req.url().clone(),
                req.headers().clone(),
                req.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec),
            )
        });
        let mut response = self
            .client
            .execute(req)
            .await
            .map_err(|e| Failed::new(transport_error_kind(&e), None))?;
        let status = response.status();
        let headers = response.headers().clone();
        let too_large = HttpErrorKind::TooLarge {
            limit: self.max_response_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_response_bytes)
        {
            return Err(Failed::new(too_large, Some(headers)));
        }
        let capacity = response
            .content_length()
            .unwrap_or(16 << 10)
            .min(self.max_response_bytes) as usize;
        let mut body = BytesMut::with_capacity(capacity);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                        return Err(Failed::new(too_large, Some(headers)));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(Failed::new(transport_error_kind(&e), Some(headers))),
            }
        }
        let body: Bytes = body.freeze();
        if let Some((method, url, request_headers, request_body)) = &recorded {
            super::record::Exchange {
                method,
                url,
                request_headers,
                request_body: request_body.as_deref(),
                status: status.as_u16(),
                response_headers: &headers,
                response_body: &body,
            }
            .record();
        }
        if !status.is_success() {
            return Err(Failed {
                kind: HttpErrorKind::Status(status.as_u16()),
                headers: Some(headers),
                body: Some(body_start(&body)),
            });
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use reqwest::Method;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn transport(max: u64) -> Transport {
        let mut headers = HeaderMap::new();
        headers.insert("x-team", HeaderValue::from_static("data"));
        Transport {
            client: Client::new(),
            timeout: Some(Duration::from_secs(5)),
            headers,
            max_response_bytes: max,
        }
    }

    #[tokio::test]
    async fn a_success_carries_the_body_and_the_default_headers_went_out() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(wiremock::matchers::header("x-team", "data"))
            .and(wiremock::matchers::header_regex("user-agent", "^intake/"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{\"ok\":true}"))
            .mount(&server)
            .await;
        let req = Request::new(Method::GET, server.uri().parse().unwrap());
        let response = transport(1024).exchange(req).await.unwrap();
        assert_eq!(&response.body[..], b"{\"ok\":true}");
    }

    #[tokio::test]
    async fn a_status_keeps_headers_and_body_and_a_big_body_is_refused() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(wiremock::matchers::path("/busy"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "3")
                    .set_body_string("slow down"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(wiremock::matchers::path("/big"))
            .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(100)))
            .mount(&server)
            .await;
        let url = |p: &str| format!("{}{p}", server.uri()).parse().unwrap();
        let failed = transport(64)
            .exchange(Request::new(Method::GET, url("/busy")))
            .await
            .unwrap_err();
        assert_eq!(failed.kind, HttpErrorKind::Status(429));
        assert_eq!(failed.headers.unwrap()["retry-after"], "3");
        assert_eq!(failed.body.as_deref(), Some("slow down"));
        let failed = transport(64)
            .exchange(Request::new(Method::GET, url("/big")))
            .await
            .unwrap_err();
        assert_eq!(failed.kind, HttpErrorKind::TooLarge { limit: 64 });
    }

    #[tokio::test]
    async fn no_server_is_a_connection_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let req = Request::new(Method::GET, format!("http://{addr}/").parse().unwrap());
        let failed = transport(64).exchange(req).await.unwrap_err();
        assert!(
            matches!(failed.kind, HttpErrorKind::Connection(_)),
            "{:?}",
            failed.kind
        );
        assert!(failed.headers.is_none());
    }
}
