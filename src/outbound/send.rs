//! The one send loop every outside service's client goes through: build the
//! request afresh for each attempt (so a refreshed token goes with it), send
//! it with a timeout, read a bounded answer, and decide: done, send again
//! (after the service's `Retry-After`, else jittered back-off, within the
//! [`RetryPolicy`]'s attempts and cap), fetch a new token once on a 401, or
//! give up with a [`Failure`] that keeps what the service said.
//!
//! Each request is a dependency in the telemetry (when it is on), named
//! by the call's path template.
//!
//! What differs between services is data, in [`Rules`]: which statuses are
//! worth sending again, which mean "slow down", and whether the request may
//! be sent twice. A request that is not idempotent is sent again only when
//! it certainly never arrived (no connection) or the service said to slow
//! down (a throttled request was not carried out).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;

use super::retry::{RetryPolicy, parse_retry_after};

/// An answer body larger than this is not read (a loop over outside data
/// is bounded); the call fails as a transport error.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// What one service's calls follow.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// For the logs: "Graph", "connector".
    pub service: &'static str,
    pub policy: RetryPolicy,
    /// Per HTTP request.
    pub timeout: Duration,
    /// Statuses worth sending again when the request is idempotent.
    pub retryable: fn(u16) -> bool,
    /// Statuses that mean "slow down": sent again even when the request is
    /// not idempotent, and counted.
    pub throttle: fn(u16) -> bool,
}

/// One call: its rules and whether sending it twice is harmless.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub rules: &'a Rules,
    pub idempotent: bool,
    /// For the logs (never a query string: it may hold names).
    pub path: &'a str,
}

/// What the service answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` in whole seconds, when it has a usable one.
    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.header("retry-after")?)
    }
}

/// Why a call gave up.
#[derive(Debug)]
pub enum Failure<E> {
    /// The request could not be made (its token, typically).
    Prepare(E),
    /// No answer (connection, TLS, timeout), or an unreadable one.
    Transport { error: String, attempts: u32 },
    /// A non-2xx answer. `retryable`: the rules would have sent it again
    /// (the attempts ran out, or its `Retry-After` was past the cap);
    /// otherwise the service refused it for good.
    Status {
        answer: Answer,
        attempts: u32,
        retryable: bool,
        throttled: bool,
    },
}

/// What a client counts (Graph's bench figures); every method defaults to
/// nothing.
pub trait Observer: Sync {
    /// An HTTP request went out.
    fn sent(&self) {}
    /// An answer said "slow down" (with its `Retry-After`, when usable):
    /// a client that paces its calls can hold back the others too.
    fn throttled(&self, _retry_after: Option<Duration>) {}
    /// A request is about to be sent again.
    fn retrying(&self) {}
}

/// Counts nothing.
pub struct Unobserved;
impl Observer for Unobserved {}

/// Sends `call`, building each attempt's request with `build`. On a 401,
/// `refuse_token` is called once (it forgets the cached token and says
/// whether a new one could differ); the request is then built again,
/// without using up an attempt.
pub async fn send<E, B, BF, R, RF>(
    call: Call<'_>,
    mut build: B,
    mut refuse_token: R,
    observer: &dyn Observer,
) -> Result<Answer, Failure<E>>
where
    B: FnMut() -> BF,
    BF: Future<Output = Result<reqwest::RequestBuilder, E>>,
    R: FnMut() -> RF,
    RF: Future<Output = bool>,
{
    let Call {
        rules,
        idempotent,
        path,
    } = call;
    let service = rules.service;
    let max_attempts = rules.policy.max_attempts.max(1);
    let mut refreshed_token = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = build().await.map_err(Failure::Prepare)?;
        observer.sent();
        let (client, request) = request.timeout(rules.timeout).build_split();
        let sent = match request {
            Ok(request) => crate::telemetry::dependency::http(&client, request, path).await,
            Err(e) => Err(e),
        };
        let res = match sent {
            Ok(res) => res,
            Err(e) => {
                let unsent = e.is_connect();
                let error = e.without_url().to_string();
                if attempt >= max_attempts || !(idempotent || unsent) {
                    return Err(Failure::Transport {
                        error,
                        attempts: attempt,
                    });
                }
                let wait = rules.policy.backoff(attempt);
                tracing::warn!(
                    service,
                    path,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    error,
                    "unreachable; sending again"
                );
                observer.retrying();
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let answer = match read_answer(res).await {
            Ok(answer) => answer,
            Err(error) => {
                return Err(Failure::Transport {
                    error,
                    attempts: attempt,
                });
            }
        };
        if answer.is_success() {
            return Ok(answer);
        }
        let status = answer.status;
        if status == 401 && !refreshed_token {
            // Revoked, rotated early or cached across a consent change.
            refreshed_token = true;
            if refuse_token().await {
                tracing::info!(service, path, "the token was refused; fetching a new one");
                observer.retrying();
                attempt -= 1;
                continue;
            }
        }
        let throttled = (rules.throttle)(status);
        if throttled {
            observer.throttled(answer.retry_after());
        }
        let retryable = throttled || (idempotent && (rules.retryable)(status));
        let wait = answer
            .retry_after()
            .unwrap_or_else(|| rules.policy.backoff(attempt));
        if !retryable || attempt >= max_attempts || wait > rules.policy.max_retry_after {
            if retryable && max_attempts > 1 {
                tracing::warn!(
                    service,
                    path,
                    status,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "still throttled or failing; giving up"
                );
            }
            return Err(Failure::Status {
                answer,
                attempts: attempt,
                retryable,
                throttled,
            });
        }
        tracing::info!(
            service,
            path,
            status,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "throttled or failing; sending again"
        );
        observer.retrying();
        tokio::time::sleep(wait).await;
    }
}

/// The answer, its body read up to [`MAX_ANSWER_BYTES`].
async fn read_answer(mut res: reqwest::Response) -> Result<Answer, String> {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    if res
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(format!("an answer of more than {MAX_ANSWER_BYTES} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("an answer of more than {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body: body.into(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server on 127.0.0.1 that answers each request (one per connection)
    /// with the next of `answers`; counts what it was sent.
    async fn scripted(answers: Vec<&'static str>) -> (String, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicU32::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            for answer in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap() == 0 {
                        break;
                    }
                    head.push(byte[0]);
                }
                counter.fetch_add(1, Ordering::SeqCst);
                socket.write_all(answer.as_bytes()).await.unwrap();
                let _ = socket.shutdown().await;
            }
        });
        (url, seen)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
    const THROTTLED: &str = "HTTP/1.1 429 Too Many Requests\r\nretry-after: 0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    const GATEWAY: &str =
        "HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    const REFUSED: &str =
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

    const RULES: Rules = Rules {
        service: "test",
        policy: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            max_retry_after: Duration::from_secs(5),
        },
        timeout: Duration::from_secs(5),
        retryable: |s| matches!(s, 429 | 502 | 503 | 504),
        throttle: |s| s == 429,
    };

    #[derive(Default)]
    struct Counted {
        sent: AtomicU32,
        throttled: AtomicU32,
        retrying: AtomicU32,
    }
    impl Observer for Counted {
        fn sent(&self) {
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        fn throttled(&self, _retry_after: Option<Duration>) {
            self.throttled.fetch_add(1, Ordering::SeqCst);
        }
        fn retrying(&self) {
            self.retrying.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn run(
        url: &str,
        idempotent: bool,
        observer: &Counted,
        refusals: &AtomicU32,
    ) -> Result<Answer, Failure<()>> {
        let http = reqwest::Client::new();
        let call = Call {
            rules: &RULES,
            idempotent,
            path: "/x",
        };
        let build = || async { Ok(http.post(url)) };
        let refuse = || async {
            refusals.fetch_add(1, Ordering::SeqCst);
            true
        };
        send(call, build, refuse, observer).await
    }

    #[tokio::test]
    async fn a_throttled_request_is_sent_again_after_its_retry_after_even_when_not_idempotent() {
        let (url, seen) = scripted(vec![THROTTLED, OK]).await;
        let counted = Counted::default();
        let answer = run(&url, false, &counted, &AtomicU32::new(0))
            .await
            .unwrap();
        assert_eq!(&answer.body[..], b"ok");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert_eq!(counted.sent.load(Ordering::SeqCst), 2);
        assert_eq!(counted.throttled.load(Ordering::SeqCst), 1);
        assert_eq!(counted.retrying.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_gateway_failure_is_sent_again_only_when_the_request_is_idempotent() {
        let (url, seen) = scripted(vec![GATEWAY, OK]).await;
        let answer = run(&url, true, &Counted::default(), &AtomicU32::new(0)).await;
        assert!(answer.is_ok());
        assert_eq!(seen.load(Ordering::SeqCst), 2);

        let (url, seen) = scripted(vec![GATEWAY, OK]).await;
        let failure = run(&url, false, &Counted::default(), &AtomicU32::new(0)).await;
        assert!(matches!(
            failure,
            Err(Failure::Status {
                retryable: false,
                attempts: 1,
                ..
            })
        ));
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "a POST Graph may have carried out"
        );
    }

    #[tokio::test]
    async fn the_attempts_run_out_with_what_the_service_said() {
        let (url, seen) = scripted(vec![GATEWAY, GATEWAY, GATEWAY, OK]).await;
        let failure = run(&url, true, &Counted::default(), &AtomicU32::new(0)).await;
        let Err(Failure::Status {
            answer,
            attempts,
            retryable,
            throttled,
        }) = failure
        else {
            panic!("a status failure")
        };
        assert_eq!(
            (answer.status, attempts, retryable, throttled),
            (504, 3, true, false)
        );
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_once_without_using_an_attempt() {
        let (url, seen) = scripted(vec![REFUSED, OK]).await;
        let refusals = AtomicU32::new(0);
        assert!(
            run(&url, false, &Counted::default(), &refusals)
                .await
                .is_ok()
        );
        assert_eq!(
            (seen.load(Ordering::SeqCst), refusals.load(Ordering::SeqCst)),
            (2, 1)
        );

        let (url, seen) = scripted(vec![REFUSED, REFUSED, OK]).await;
        let refusals = AtomicU32::new(0);
        let failure = run(&url, true, &Counted::default(), &refusals).await;
        assert!(
            matches!(failure, Err(Failure::Status { answer, retryable: false, .. }) if answer.status == 401)
        );
        assert_eq!(
            (seen.load(Ordering::SeqCst), refusals.load(Ordering::SeqCst)),
            (2, 1)
        );
    }

    #[tokio::test]
    async fn a_retry_after_past_the_cap_gives_up_at_once() {
        let (url, seen) = scripted(vec![
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 3600\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            OK,
        ])
        .await;
        let failure = run(&url, true, &Counted::default(), &AtomicU32::new(0)).await;
        let Err(Failure::Status { answer, .. }) = failure else {
            panic!("a status failure")
        };
        assert_eq!(answer.retry_after(), Some(Duration::from_secs(3600)));
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_bound_is_not_read() {
        let (url, _) = scripted(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\nconnection: close\r\n\r\n",
        ])
        .await;
        let failure = run(&url, true, &Counted::default(), &AtomicU32::new(0)).await;
        assert!(
            matches!(&failure, Err(Failure::Transport { error, .. }) if error.contains("more than")),
            "{failure:?}"
        );
    }
}
