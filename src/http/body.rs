//! Reading a request body within a limit, and refusing one without reading
//! it; the one place both the handler and the local host do either.
//!
//! A refused body is never just dropped. A proxy in front of the handler
//! (the Functions host, the local host) sends the whole body before it
//! reads the answer; a connection closed while it still sends loses the
//! answer (the unread bytes make the close a reset) and the proxy says 502
//! instead. So [`discard`] reads what is left and throws it away, in a task
//! of its own, while the answer goes out at once: a caller that reads the
//! answer early has it at once, one that sends everything first still finds
//! it. Reading the rest costs a copy per byte, not a parse; a body more
//! than [`DRAIN_BEYOND_LIMIT`] over its limit, or still coming after
//! [`DRAIN_TIME`], gets the connection closed anyway. The bound is relative
//! to the limit so that the local host's 413 at 100 MB survives as the
//! handler's at a few hundred KiB does.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use warp::http::HeaderMap;

/// How far past its limit a refused body is still read, and thrown away,
/// and for how long.
pub const DRAIN_BEYOND_LIMIT: u64 = 16 * 1024 * 1024;
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the body: {0}")]
    Read(String),
}

/// The body's size as `Content-Length` declares it.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Refuses a body from its declared size alone, before reading any of it.
pub fn check_declared(headers: &HeaderMap, limit: u64) -> Result<(), BodyError> {
    match declared_length(headers) {
        Some(len) if len > limit => Err(BodyError::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Reads a body up to `limit` bytes: a declared length over the limit is
/// refused before reading, a chunked body as soon as it passes the limit;
/// either way the rest is [`discard`]ed.
pub async fn read_limited<S, B, E>(
    body: S,
    headers: &HeaderMap,
    limit: u64,
) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, E>> + Unpin + Send + 'static,
    B: Buf,
    E: std::fmt::Display,
{
    let mut body = body;
    if let Err(e) = check_declared(headers, limit) {
        discard(body, headers, limit, 0);
        return Err(e);
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        let seen = (buf.len() + chunk.remaining()) as u64;
        if seen > limit {
            discard(body, headers, limit, seen);
            return Err(BodyError::TooLarge { limit });
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

/// Reads and throws away what is left of a refused body whose limit was
/// `limit` (`seen` bytes of it are already read), up to
/// [`DRAIN_BEYOND_LIMIT`] past the limit and for [`DRAIN_TIME`], in a task
/// of its own so the answer need not wait. A body declared larger than
/// that is not read at all.
pub fn discard<S, B, E>(body: S, headers: &HeaderMap, limit: u64, seen: u64)
where
    S: Stream<Item = Result<B, E>> + Unpin + Send + 'static,
    B: Buf,
{
    let bound = limit.saturating_add(DRAIN_BEYOND_LIMIT);
    if declared_length(headers).is_some_and(|len| len > bound) {
        return;
    }
    let mut body = body;
    let mut seen = seen;
    let rest = async move {
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.remaining() as u64;
            if seen > bound {
                return;
            }
        }
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(DRAIN_TIME, rest).await;
    });
}
