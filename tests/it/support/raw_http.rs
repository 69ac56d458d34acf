//! A raw HTTP/1.1 client over TCP, for tests that decide when each byte of a
//! request is sent: the head alone, the body later or never. (reqwest sends
//! the head and the body together, so it cannot show that an answer came
//! before the body.)

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

pub struct RawConnection {
    stream: TcpStream,
    /// Bytes read and not yet consumed by a response.
    read: Vec<u8>,
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl RawConnection {
    /// A connection to `base`'s host and port.
    pub async fn open(base: &Url) -> Self {
        let addr = format!(
            "{}:{}",
            base.host_str().expect("a host"),
            base.port_or_known_default().expect("a port")
        );
        RawConnection {
            stream: TcpStream::connect(addr).await.expect("connects"),
            read: Vec::new(),
        }
    }

    /// Sends a request head (with `Host`), and no body.
    pub async fn send_head(&mut self, method: &str, path: &str, headers: &[(&str, String)]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.send(head.as_bytes()).await;
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("sends");
        self.stream.flush().await.expect("flushes");
    }

    /// The next response, or `None` when none has come within `wait`.
    pub async fn response_within(&mut self, wait: Duration) -> Option<RawResponse> {
        tokio::time::timeout(wait, self.response()).await.ok()
    }

    async fn response(&mut self) -> RawResponse {
        let head_end = loop {
            if let Some(i) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.read[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        assert!(
            response.header("transfer-encoding").is_none(),
            "chunked answers are not read here"
        );
        let len: usize = response
            .header("content-length")
            .map_or(0, |v| v.parse().expect("a length"));
        while self.read.len() < head_end + len {
            self.fill().await;
        }
        response.body = self.read[head_end..head_end + len].to_vec();
        self.read.drain(..head_end + len);
        response
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await.expect("reads");
        assert!(n > 0, "the connection closed before a whole response");
        self.read.extend_from_slice(&chunk[..n]);
    }
}

/// Long enough for any answer the handler gives without waiting for more.
pub const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// A `POST` of `body` (as JSON) whose head goes first, alone: to show
/// whether the answer comes before the body or waits for it.
pub struct HeadFirst<'a> {
    base: &'a Url,
    path: &'a str,
    body: &'a [u8],
    headers: Vec<(&'static str, String)>,
}

impl<'a> HeadFirst<'a> {
    pub fn post(base: &'a Url, path: &'a str, body: &'a [u8]) -> Self {
        HeadFirst {
            base,
            path,
            body,
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("content-length", body.len().to_string()),
            ],
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A connection on which the head has gone, and nothing of the body.
    async fn head_sent(&self) -> RawConnection {
        let mut conn = RawConnection::open(self.base).await;
        conn.send_head("POST", self.path, &self.headers).await;
        conn
    }

    /// The answer, which must come before any of the body is sent. Then the
    /// body goes, and the same connection still answers (the refused body
    /// was read to its end, not left to reset the connection).
    pub async fn answered_before_the_body(self) -> RawResponse {
        let mut conn = self.head_sent().await;
        let res = conn.response_within(ANSWER_WAIT).await.unwrap_or_else(|| {
            panic!(
                "{} {:?}: no answer before the body was sent",
                self.path, self.headers
            )
        });
        conn.send(self.body).await;
        conn.send_head("GET", "/api/health", &[]).await;
        let next = conn.response_within(ANSWER_WAIT).await;
        assert_eq!(
            next.map(|r| r.status),
            Some(200),
            "{}: the connection goes on after the refused body",
            self.path
        );
        res
    }

    /// The answer, which must not come before the body is sent.
    pub async fn answered_after_the_body(self) -> RawResponse {
        let mut conn = self.head_sent().await;
        assert!(
            conn.response_within(Duration::from_millis(500))
                .await
                .is_none(),
            "{}: answered before its body",
            self.path
        );
        conn.send(self.body).await;
        conn.response_within(ANSWER_WAIT)
            .await
            .expect("an answer once the body is sent")
    }
}
