//! HTTP/1.1 pipelining of scheduler calls: many calls written back to back
//! on one kept-alive connection, their answers read in order.
//!
//! # Why
//! The v1 API has one HTTP call per ACKNOWLEDGE, and a large deploy makes
//! two per task (STARTING, RUNNING), 200,000 at 100,000 tasks. One request
//! and one answer per round trip costs both sides a write, a read and a
//! wake-up per call; written back to back, a batch of calls is one write and
//! a few reads on each side. Both masters take it: libprocess answers
//! pipelined requests in order (`HttpProxy::enqueue`, "to account for
//! HTTP/1.1 pipelining"), and so does hyper, under the simulator.
//!
//! # What it is not
//! A general HTTP client: it speaks plain `http://` to one authority,
//! sends POSTs with a fixed head and a `Content-Length` body, and reads
//! answers framed by `Content-Length` or chunked encoding. Anything else
//! (an answer it cannot frame, `Connection: close`, a broken connection, a
//! timeout) ends the exchange: the answers read so far are returned with
//! the reason, and the caller sends the unanswered calls another way.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Headers an answer may carry that we look at; more are skipped.
const MAX_HEADERS: usize = 32;
/// An answer head or body larger than this ends the exchange (Mesos
/// answers calls with an empty body or one line of text).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// One answer: its status, `Location` header and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Bytes,
}

/// Why an exchange stopped before every call was answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PipelineError {
    #[error("connection to {authority} failed: {source}")]
    Io {
        authority: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{authority} closed the connection after {answered} answers")]
    Closed { authority: String, answered: usize },
    #[error("{authority} sent an answer that cannot be framed: {reason}")]
    Malformed { authority: String, reason: String },
    #[error("{authority} did not answer within {timeout:?}")]
    Timeout {
        authority: String,
        timeout: Duration,
    },
}

/// One kept-alive connection to a master.
pub(crate) struct Connection {
    authority: String,
    stream: TcpStream,
    buffer: BytesMut,
}

impl Connection {
    /// Connects to `authority` (`host:port`).
    pub async fn connect(authority: &str, timeout: Duration) -> Result<Self, PipelineError> {
        let io = |source| PipelineError::Io {
            authority: authority.to_string(),
            source,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(authority))
            .await
            .map_err(|_| PipelineError::Timeout {
                authority: authority.to_string(),
                timeout,
            })?
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        Ok(Self {
            authority: authority.to_string(),
            stream,
            buffer: BytesMut::with_capacity(16 * 1024),
        })
    }

    /// The `host:port` this connection goes to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends one POST per body, each `head` (request line and headers,
    /// without `Content-Length` and the blank line) followed by the body,
    /// all in one write, and reads the answers in order. Returns the answers
    /// read, and the reason when fewer than `bodies` came (then the
    /// connection is unusable: drop it).
    pub async fn exchange(
        &mut self,
        head: &[u8],
        bodies: &[Vec<u8>],
        timeout: Duration,
    ) -> (Vec<Answer>, Option<PipelineError>) {
        let mut requests =
            Vec::with_capacity(bodies.iter().map(|b| head.len() + 32 + b.len()).sum());
        for body in bodies {
            requests.extend_from_slice(head);
            requests
                .extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            requests.extend_from_slice(body);
        }
        let mut answers = Vec::with_capacity(bodies.len());
        let authority = self.authority.clone();
        let (mut reader, mut writer) = self.stream.split();
        let buffer = &mut self.buffer;
        // Written while the answers are read: a master that answers as it
        // reads never waits on a full socket buffer of ours.
        let write = async {
            writer.write_all(&requests).await?;
            writer.flush().await
        };
        let read = async {
            while answers.len() < bodies.len() {
                if let Some(answer) = parse(buffer, &authority)? {
                    let close = answer.1;
                    answers.push(answer.0);
                    if close && answers.len() < bodies.len() {
                        return Err(PipelineError::Closed {
                            authority: authority.clone(),
                            answered: answers.len(),
                        });
                    }
                    continue;
                }
                if buffer.len() > MAX_ANSWER_BYTES {
                    return Err(PipelineError::Malformed {
                        authority: authority.clone(),
                        reason: format!("an answer larger than {MAX_ANSWER_BYTES} bytes"),
                    });
                }
                let n = reader
                    .read_buf(buffer)
                    .await
                    .map_err(|source| PipelineError::Io {
                        authority: authority.clone(),
                        source,
                    })?;
                if n == 0 {
                    return Err(PipelineError::Closed {
                        authority: authority.clone(),
                        answered: answers.len(),
                    });
                }
            }
            Ok(())
        };
        let both = async {
            let (written, read) = tokio::join!(write, read);
            read?;
            written.map_err(|source| PipelineError::Io {
                authority: authority.clone(),
                source,
            })
        };
        let error = match tokio::time::timeout(timeout, both).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(PipelineError::Timeout {
                authority: authority.clone(),
                timeout,
            }),
        };
        (answers, error)
    }
}

/// Takes one complete answer off the front of `buffer`: the answer and
/// whether the server closes the connection after it; `None` while it is
/// incomplete.
fn parse(buffer: &mut BytesMut, authority: &str) -> Result<Option<(Answer, bool)>, PipelineError> {
    let malformed = |reason: String| PipelineError::Malformed {
        authority: authority.to_string(),
        reason,
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(malformed(e.to_string())),
    };
    let status = response.code.unwrap_or_default();
    let mut content_length = None;
    let mut chunked = false;
    let mut close = response.version == Some(0);
    let mut location = None;
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or_default().trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| malformed(format!("Content-Length {value:?}")))?;
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if h.name.eq_ignore_ascii_case("location") {
            location = Some(value.to_string());
        }
    }
    if (100..200).contains(&status) {
        // An interim answer (we never send `Expect`): skip it.
        buffer.advance(head_len);
        return Ok(None);
    }
    let bodiless = status == 204 || status == 304;
    let body = if bodiless {
        buffer.advance(head_len);
        Bytes::new()
    } else if chunked {
        let Some((consumed, body)) = dechunk(&buffer[head_len..]).map_err(malformed)? else {
            return Ok(None);
        };
        buffer.advance(head_len + consumed);
        body
    } else if let Some(n) = content_length {
        if buffer.len() < head_len + n {
            return Ok(None);
        }
        buffer.advance(head_len);
        buffer.split_to(n).freeze()
    } else {
        // Framed by the end of the connection: not for pipelining.
        return Err(malformed(
            "neither Content-Length nor chunked encoding".into(),
        ));
    };
    Ok(Some((
        Answer {
            status,
            location,
            body,
        },
        close,
    )))
}

/// A complete chunked body at the front of `data`: the bytes it takes
/// (trailers included) and the body; `None` while incomplete.
fn dechunk(data: &[u8]) -> Result<Option<(usize, Bytes)>, String> {
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find_crlf(&data[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[at..at + line_end])
            .map_err(|_| "a chunk size line that is not text".to_string())?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunk size {size_text:?}"))?;
        at += line_end + 2;
        if size == 0 {
            // Trailers, each a line, end with an empty line.
            loop {
                let Some(end) = find_crlf(&data[at..]) else {
                    return Ok(None);
                };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((at, Bytes::from(body))));
                }
            }
        }
        if body.len() + size > MAX_ANSWER_BYTES {
            return Err(format!("a body larger than {MAX_ANSWER_BYTES} bytes"));
        }
        if data.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[at..at + size]);
        if &data[at + size..at + size + 2] != b"\r\n" {
            return Err("a chunk not followed by CRLF".into());
        }
        at += size + 2;
    }
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(text: &[u8]) -> (Vec<(Answer, bool)>, BytesMut) {
        let mut buffer = BytesMut::from(text);
        let mut out = Vec::new();
        while let Some(a) = parse(&mut buffer, "m:5050").expect("parses") {
            out.push(a);
        }
        (out, buffer)
    }

    #[test]
    fn answers_framed_by_length_are_taken_in_order_and_a_partial_one_waits() {
        let (answers, rest) = take(
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nno id\
              HTTP/1.1 202 Accepted\r\nContent-Len",
        );
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].0.status, 202);
        assert_eq!(answers[1].0.status, 400);
        assert_eq!(answers[1].0.body, Bytes::from_static(b"no id"));
        assert!(!answers[1].1);
        assert!(
            rest.starts_with(b"HTTP/1.1 202"),
            "the partial answer is kept"
        );
    }

    #[test]
    fn chunked_answers_and_redirects_are_read() {
        let (answers, rest) = take(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: //m2:5050/api/v1/scheduler\r\n\
              Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
              HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].0.status, 307);
        assert_eq!(
            answers[0].0.location.as_deref(),
            Some("//m2:5050/api/v1/scheduler")
        );
        assert_eq!(answers[0].0.body, Bytes::from_static(b"abcde"));
        assert!(answers[1].1, "Connection: close is reported");
        assert!(rest.is_empty());
    }

    #[test]
    fn an_incomplete_chunked_body_waits() {
        let (answers, rest) = take(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
        assert!(answers.is_empty());
        assert!(!rest.is_empty());
    }

    #[test]
    fn an_answer_without_framing_is_refused_by_name() {
        let mut buffer = BytesMut::from(&b"HTTP/1.1 200 OK\r\n\r\nbody until close"[..]);
        let e = parse(&mut buffer, "m:5050").expect_err("refused");
        assert!(e.to_string().contains("neither Content-Length"), "{e}");
    }

    /// Against a hyper server (the simulator's stack): a batch of calls in
    /// one write comes back as one answer per call, in order, and the
    /// connection carries a second batch.
    #[tokio::test]
    async fn a_hyper_server_answers_a_pipelined_batch_in_order() {
        use axum::Router;
        use axum::routing::post;
        let app = Router::new().route(
            "/api/v1/scheduler",
            post(|body: Bytes| async move {
                if body.as_ref() == b"bad" {
                    (http::StatusCode::BAD_REQUEST, "bad call".to_string())
                } else {
                    (http::StatusCode::ACCEPTED, String::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut conn = Connection::connect(&addr, Duration::from_secs(5))
            .await
            .expect("connects");
        let head = format!(
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n"
        );
        let bodies: Vec<Vec<u8>> = (0..300)
            .map(|i| {
                if i % 100 == 7 {
                    b"bad".to_vec()
                } else {
                    vec![b'x'; i]
                }
            })
            .collect();
        for _ in 0..2 {
            let (answers, error) = conn
                .exchange(head.as_bytes(), &bodies, Duration::from_secs(10))
                .await;
            assert!(error.is_none(), "{error:?}");
            assert_eq!(answers.len(), 300);
            for (i, a) in answers.iter().enumerate() {
                let expected = if i % 100 == 7 { 400 } else { 202 };
                assert_eq!(a.status, expected, "answer {i}");
            }
            assert_eq!(answers[7].body, Bytes::from_static(b"bad call"));
        }
        server.abort();
    }

    #[tokio::test]
    async fn a_server_that_closes_midway_reports_how_many_it_answered() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accepts");
            let mut scratch = [0u8; 4096];
            let _ = socket.read(&mut scratch).await;
            let _ = socket
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await;
            // Then the connection drops with two calls unanswered.
        });
        let mut conn = Connection::connect(&addr, Duration::from_secs(5))
            .await
            .expect("connects");
        let head = format!("POST /x HTTP/1.1\r\nHost: {addr}\r\n");
        let (answers, error) = conn
            .exchange(
                head.as_bytes(),
                &[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(answers.len(), 1);
        assert!(
            matches!(error, Some(PipelineError::Closed { answered: 1, .. })),
            "{error:?}"
        );
        server.await.expect("server task");
    }
}
