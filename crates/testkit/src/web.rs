//! HTTP from the process tests to `hydrogen serve` and `hydrogen sim`: one
//! request helper that never panics on a transport error (a refused or cut
//! connection is status 0 with the error as the body, which is what a test
//! killing processes expects to see), and one poll with a deadline.

use std::time::Duration;

use serde_json::Value;

/// How long one request may take unless the caller says otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often [`poll`] asks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What a server answered; status 0 when nothing was answered.
pub struct Reply {
    pub status: u16,
    /// The `Retry-After` header, when there was one.
    pub retry_after: Option<String>,
    /// The body, or the transport error.
    pub text: String,
}

impl Reply {
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| Value::String(self.text.clone()))
    }
}

/// Sends `body` (as JSON) with `method` to `url` within `timeout`.
pub async fn send(
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Reply {
    let mut request = reqwest::Client::new().request(method, url).timeout(timeout);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    match request.send().await {
        Ok(response) => Reply {
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            text: response.text().await.unwrap_or_default(),
        },
        Err(e) => Reply {
            status: 0,
            retry_after: None,
            text: e.to_string(),
        },
    }
}

/// (status, JSON body) of one request within [`REQUEST_TIMEOUT`].
pub async fn http(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let reply = send(method, url, body.as_ref(), REQUEST_TIMEOUT).await;
    (reply.status, reply.json())
}

/// Calls `f` until it returns `Some`; fails the test naming `what` when
/// `deadline` passes first.
pub async fn poll<T>(deadline: Duration, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The index of the first of `urls` whose `/readyz` says it leads.
pub async fn leading<'a>(urls: impl IntoIterator<Item = &'a str>) -> Option<usize> {
    for (i, url) in urls.into_iter().enumerate() {
        let (status, body) = http(reqwest::Method::GET, &format!("{url}/readyz"), None).await;
        if status == 200 && body["leader"] == true {
            return Some(i);
        }
    }
    None
}
