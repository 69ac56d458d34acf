//! The accept loop the plain-HTTP stand-ins share (Graph, Dataverse,
//! Salesforce): one hyper HTTP/1 connection per client, each request's head
//! and whole body handed to the stand-in's handler. The connections live in
//! a set owned by the loop, so aborting the stand-in's task closes them too.

use std::future::Future;

use http_body_util::BodyExt;

pub type Response = hyper::Response<http_body_util::Full<hyper::body::Bytes>>;

pub async fn serve<H, F>(listener: tokio::net::TcpListener, handle: H)
where
    H: Fn(hyper::http::request::Parts, hyper::body::Bytes) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let handle = handle.clone();
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let handle = handle.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, hyper::Error>(handle(parts, body).await)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
    }
}
