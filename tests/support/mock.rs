//! An in-process HTTP/1.1 server on the test's own runtime.
//!
//! wiremock serves from a thread of its own, so on paused tokio time the test's clock can
//! jump while a request is in flight. This server runs on the test's runtime instead: on
//! loopback every exchange completes without the clock moving, and handlers read the same
//! paused clock as the client — what timing tests (rate limits per window) need.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Answer after this long (on the runtime's clock).
    pub delay: Option<std::time::Duration>,
}

impl Resp {
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Resp {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: None,
        }
    }

    pub fn delay(mut self, d: std::time::Duration) -> Self {
        self.delay = Some(d);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

pub type Handler = Arc<dyn Fn(Req) -> Resp + Send + Sync>;

pub struct MockServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `handler` on the current runtime.
pub async fn serve(handler: impl Fn(Req) -> Resp + Send + Sync + 'static) -> MockServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Handler = Arc::new(handler);
    let task = tokio::spawn(accept_loop(listener, handler));
    MockServer { addr, task }
}

/// Serves `handler` from a runtime on its own thread (for benchmarks).
pub fn serve_on_thread(handler: impl Fn(Req) -> Resp + Send + Sync + 'static) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let handler: Handler = Arc::new(handler);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            accept_loop(listener, handler).await;
        });
    });
    rx.recv().unwrap()
}

async fn accept_loop(listener: TcpListener, handler: Handler) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let query = parts
                        .uri
                        .query()
                        .map(|q| {
                            url::form_urlencoded::parse(q.as_bytes())
                                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let headers = parts
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect();
                    let resp = handler(Req {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_string(),
                        query,
                        headers,
                        body,
                    });
                    if let Some(d) = resp.delay {
                        tokio::time::sleep(d).await;
                    }
                    let mut builder = hyper::Response::builder().status(resp.status);
                    for (k, v) in &resp.headers {
                        builder = builder.header(k, v);
                    }
                    Ok::<_, Infallible>(builder.body(Full::new(resp.body)).unwrap())
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
