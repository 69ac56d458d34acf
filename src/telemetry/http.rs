//! The exporter's uploads go out through the app's one HTTP stack
//! (reqwest, [`crate::outbound::http_client`]), not a second client the
//! exporter crate would bring.
//!
//! The SDK exports from its own background threads, blocking on the
//! export; reqwest needs a tokio reactor. So the uploads run on a small
//! runtime of their own (one worker thread): an export never waits on the
//! app's runtime (nor the app on an export), and a flush at shutdown still
//! works after the app's runtime has stopped serving.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// An upload that takes longer is abandoned (the exporter then retries it
/// within its own bound, then drops it).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The ingestion endpoint answers a few hundred bytes (a 206 lists the
/// items it refused); anything larger is not read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The client the trace and the metric exporters share.
#[derive(Clone, Debug)]
pub struct Uploads(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Uploads {
    pub fn new(client: reqwest::Client) -> anyhow::Result<Uploads> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("telemetry-upload")
            .enable_all()
            .build()?;
        Ok(Uploads(Arc::new(Inner {
            client,
            runtime: Some(runtime),
        })))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropped wherever the SDK lets go of its exporters, possibly on a
        // runtime's thread, where a blocking shutdown would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Uploads {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (head, body) = request.into_parts();
        let inner = &self.0;
        let request = inner
            .client
            .request(head.method, head.uri.to_string())
            .headers(head.headers)
            .body(body)
            .timeout(UPLOAD_TIMEOUT);
        let runtime = inner.runtime.as_ref().expect("present until dropped");
        let answer = runtime.spawn(async move {
            let mut res = request.send().await.map_err(|e| e.without_url())?;
            let mut answer = Response::builder().status(res.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = std::mem::take(res.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url())? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(answer.body(Bytes::from(body)))
        });
        Ok(answer.await???)
    }
}
