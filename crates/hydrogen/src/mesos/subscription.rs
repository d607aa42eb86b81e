//! The scheduler's subscription to a Mesos master, and the calls made on it.
//!
//! [`Subscription::start`] spawns one background task that owns the event
//! stream: it POSTs SUBSCRIBE to a master, follows `307` redirects to the
//! leading master itself (the stream id it gets belongs to that one master),
//! reads the RecordIO event stream, and treats silence — no event, heartbeats
//! included, for `missed_heartbeats` heartbeat intervals — as a dead master.
//! Then it reconnects, trying the master it last used first and then each
//! configured master in turn, with exponential backoff and full jitter, and
//! re-subscribes with the framework id Mesos gave it (failover semantics).
//!
//! Every (re)subscription is a new *session* with a new generation number.
//! Events are tagged with it, and [`Caller::call_in`] refuses to send a call
//! for a session that is gone: offers and stream ids of an earlier stream are
//! meaningless to the master, and an ACCEPT of an offer from an earlier stream
//! must never go out.
//!
//! An ERROR event ends the subscription for good (Mesos sends it when another
//! scheduler took the framework over, or the framework was removed):
//! re-subscribing would steal the framework back from a newer leader.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use reqwest::{StatusCode, Url, header};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::encoding::{CodecError, Encoding};
use super::pipeline;
use super::recordio::{DEFAULT_MAX_RECORD_BYTES, RecordIoCodec, RecordIoError};
use super::v1::scheduler::{Call, Event, event};
use super::v1::{self, FrameworkInfo, MasterInfo};
use super::{SCHEDULER_PATH, STREAM_ID_HEADER, calls};

/// Heartbeat interval assumed until SUBSCRIBED says otherwise (Mesos's default).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// A principal and its secret for HTTP basic authentication.
#[derive(Clone)]
pub struct Credentials {
    pub principal: String,
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("Credentials")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Heartbeat intervals of silence after which the master is presumed dead,
/// unless configured otherwise.
pub const DEFAULT_MISSED_HEARTBEATS: u32 = 5;
/// First reconnection delay, unless configured otherwise.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(200);
/// Cap of the reconnection delay, unless configured otherwise.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How to reach Mesos and who we are.
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// Master base URLs (`http://host:5050`), tried in turn.
    pub masters: Vec<Url>,
    /// Our framework. Its `id`, when set, makes SUBSCRIBE a failover.
    pub framework: FrameworkInfo,
    /// Body and stream encoding (protobuf is the compact default).
    pub encoding: Encoding,
    pub credentials: Option<Credentials>,
    /// Heartbeat intervals of silence after which the master is presumed dead.
    pub missed_heartbeats: u32,
    /// First reconnection delay; doubles up to `backoff_max`, with full jitter.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// TCP connect timeout for every request.
    pub connect_timeout: Duration,
    /// Timeout of a call (and of the wait for the first event of a stream).
    pub call_timeout: Duration,
    /// Largest event accepted from the stream.
    pub max_record_bytes: usize,
    /// Redirects followed per connection attempt.
    pub max_redirects: u32,
}

impl SubscriptionConfig {
    /// Defaults for everything but the masters and the framework.
    pub fn new(masters: Vec<Url>, framework: FrameworkInfo) -> Self {
        Self {
            masters,
            framework,
            encoding: Encoding::Protobuf,
            credentials: None,
            missed_heartbeats: DEFAULT_MISSED_HEARTBEATS,
            backoff_initial: DEFAULT_BACKOFF_INITIAL,
            backoff_max: DEFAULT_BACKOFF_MAX,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(15),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_redirects: 3,
        }
    }
}

/// Parses a comma-separated master list. A bare `host:port` means `http://`.
pub fn parse_masters(list: &str) -> Result<Vec<Url>, SubscriptionError> {
    let mut masters = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let with_scheme = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| SubscriptionError::InvalidMaster {
            master: raw.to_string(),
            reason: e.to_string(),
        })?;
        if url.scheme() != "http" {
            return Err(SubscriptionError::InvalidMaster {
                master: raw.to_string(),
                reason: format!(
                    "scheme {:?} is not supported; use http:// (put a TLS-terminating proxy in front of an https master)",
                    url.scheme()
                ),
            });
        }
        if url.host_str().is_none() {
            return Err(SubscriptionError::InvalidMaster {
                master: raw.to_string(),
                reason: "no host".into(),
            });
        }
        masters.push(url);
    }
    if masters.is_empty() {
        return Err(SubscriptionError::NoMasters);
    }
    Ok(masters)
}

/// What the subscription can fail with for good.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("invalid master {master:?}: {reason}")]
    InvalidMaster { master: String, reason: String },
    #[error("no Mesos master given: pass at least one, e.g. --master http://mesos-master:5050")]
    NoMasters,
    #[error("failed to build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the master ended our subscription with an ERROR event: {message}")]
    MasterError { message: String },
}

/// An answer other than `202 Accepted` to a call, or a reason it was not sent.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("not subscribed to a master yet; retry once SUBSCRIBED arrives")]
    NotSubscribed,
    #[error(
        "the session this call belongs to (generation {call}) has ended; the current one is {current:?}: rebuild the call from the new session's events"
    )]
    StaleSession {
        call: Generation,
        current: Option<Generation>,
    },
    #[error("the master rejected the call as malformed (400): {0}")]
    BadRequest(String),
    #[error("the master refused our credentials (401): {0}; check the principal and secret")]
    Unauthorized(String),
    #[error("the master refused the call (403): {0}")]
    Forbidden(String),
    #[error("this master is not the leader (307); the leader is at {location:?}")]
    NotLeader { location: Option<String> },
    #[error("the master has no leader (503): {0}")]
    Unavailable(String),
    #[error("the master answered {status}: {message}")]
    Unexpected { status: u16, message: String },
    #[error("sending the call failed: {0}")]
    Transport(#[source] reqwest::Error),
}

/// The number of a subscription session. It increases with every
/// successful SUBSCRIBE, so what belongs to an earlier session (a call built
/// from its offers, a late event) is told apart from the current one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(pub u64);

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One subscription's identity, as reported to the consumer.
#[derive(Debug, Clone)]
pub struct Session {
    /// Increases with every successful SUBSCRIBE.
    pub generation: Generation,
    pub framework_id: v1::FrameworkId,
    /// Base URL of the master serving this session.
    pub master: Url,
    pub heartbeat_interval: Duration,
    pub master_info: Option<MasterInfo>,
}

/// What the subscription tells its consumer.
#[derive(Debug)]
pub enum SubscriptionEvent {
    /// A SUBSCRIBED event opened a new session. Offers of earlier sessions are void.
    Subscribed(Box<Session>),
    /// Any other event of the session (heartbeats are consumed internally).
    Event {
        session: Generation,
        event: Box<Event>,
    },
    /// The session ended; a reconnection follows unless the subscription ends.
    Disconnected { session: Generation, reason: String },
    /// A connection attempt failed (no session was opened).
    ConnectFailed { master: Url, reason: String },
}

#[derive(Debug, Clone)]
struct ActiveSession {
    generation: Generation,
    endpoint: Url,
    stream_id: String,
    framework_id: v1::FrameworkId,
}

struct Shared {
    http: reqwest::Client,
    encoding: Encoding,
    credentials: Option<Credentials>,
    connect_timeout: Duration,
    call_timeout: Duration,
    session: RwLock<Option<ActiveSession>>,
    /// Idle connections for pipelined calls ([`Caller::call_many_in`]).
    pipes: Mutex<Vec<pipeline::Connection>>,
}

impl Shared {
    fn current(&self) -> Option<ActiveSession> {
        self.session
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn set_current(&self, session: Option<ActiveSession>) {
        match self.session.write() {
            Ok(mut slot) => *slot = session,
            Err(poisoned) => *poisoned.into_inner() = session,
        }
    }

    fn request(&self, url: Url, body: Vec<u8>) -> reqwest::RequestBuilder {
        let media = self.encoding.media_type();
        let req = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, media)
            .header(header::ACCEPT, media)
            .body(body);
        match &self.credentials {
            Some(c) => req.basic_auth(&c.principal, Some(&c.secret)),
            None => req,
        }
    }
}

/// A handle for sending calls on the live session. Cheap to clone.
#[derive(Clone)]
pub struct Caller {
    shared: Arc<Shared>,
}

impl Caller {
    /// The generation of the live session, if any.
    pub fn session(&self) -> Option<Generation> {
        self.shared.current().map(|s| s.generation)
    }

    /// Sends `call` on whatever session is live.
    pub async fn call(&self, call: Call) -> Result<(), CallError> {
        let session = self.shared.current().ok_or(CallError::NotSubscribed)?;
        self.send(session, call).await
    }

    /// Sends `call` only if session `generation` is still the live one.
    pub async fn call_in(&self, generation: Generation, call: Call) -> Result<(), CallError> {
        let session = self.shared.current();
        match session {
            Some(s) if s.generation == generation => self.send(s, call).await,
            other => Err(CallError::StaleSession {
                call: generation,
                current: other.map(|s| s.generation),
            }),
        }
    }

    async fn send(&self, session: ActiveSession, mut call: Call) -> Result<(), CallError> {
        call.framework_id = Some(session.framework_id.clone());
        let kind = call.r#type().as_str_name();
        let body = self.shared.encoding.encode(&call);
        let start = Instant::now();
        let sent = self
            .shared
            .request(session.endpoint.clone(), body)
            .header(STREAM_ID_HEADER, &session.stream_id)
            .timeout(self.shared.call_timeout)
            .send()
            .await;
        let elapsed = start.elapsed();
        // One line and one sample per call, as operators ask; the fields are
        // static strings and numbers so that a flood of ACKNOWLEDGEs stays cheap.
        metrics::histogram!("hydrogen_mesos_call_duration_seconds", "call" => kind)
            .record(elapsed.as_secs_f64());
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                metrics::counter!("hydrogen_mesos_calls_total", "call" => kind, "status" => "error")
                    .increment(1);
                info!(call = kind, status = "error", latency_ms, error = %e, "mesos call");
                return Err(CallError::Transport(e));
            }
        };
        let status = response.status();
        metrics::counter!("hydrogen_mesos_calls_total", "call" => kind, "status" => status_label(status))
            .increment(1);
        info!(
            call = kind,
            status = status.as_u16(),
            latency_ms,
            "mesos call"
        );
        if status == StatusCode::ACCEPTED || status == StatusCode::OK {
            return Ok(());
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let message = response.text().await.unwrap_or_default();
        Err(refusal(status, location, message))
    }

    /// Sends `calls` of session `generation`, in order, written back to back
    /// on one kept-alive connection (HTTP/1.1 pipelining, see
    /// [`super::pipeline`]); one result per call, in the same order. Calls
    /// the pipelined connection could not carry (it broke or timed out) go
    /// again one by one, as [`Self::call_in`] sends them: use this only for
    /// calls the master may safely see twice, like ACKNOWLEDGE.
    pub async fn call_many_in(
        &self,
        generation: Generation,
        calls: Vec<Call>,
    ) -> Vec<Result<(), CallError>> {
        let session = match self.shared.current() {
            Some(s) if s.generation == generation => s,
            other => {
                let current = other.map(|s| s.generation);
                return calls
                    .iter()
                    .map(|_| {
                        Err(CallError::StaleSession {
                            call: generation,
                            current,
                        })
                    })
                    .collect();
            }
        };
        let Some((authority, head)) = self.pipeline_head(&session) else {
            // Not plain http: one call at a time through the client.
            let mut results = Vec::with_capacity(calls.len());
            for call in calls {
                results.push(self.send(session.clone(), call).await);
            }
            return results;
        };
        let mut calls = calls;
        let bodies: Vec<Vec<u8>> = calls
            .iter_mut()
            .map(|call| {
                call.framework_id = Some(session.framework_id.clone());
                self.shared.encoding.encode(call)
            })
            .collect();
        let start = Instant::now();
        let pooled = self.take_pipe(&authority);
        let connection = match pooled {
            Some(c) => Ok(c),
            None => pipeline::Connection::connect(&authority, self.shared.connect_timeout).await,
        };
        let (answers, broken) = match connection {
            Ok(mut c) => {
                let (answers, error) = c
                    .exchange(head.as_bytes(), &bodies, self.shared.call_timeout)
                    .await;
                if error.is_none() {
                    self.return_pipe(c);
                }
                (answers, error)
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        let elapsed = start.elapsed();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let mut results = Vec::with_capacity(calls.len());
        let mut rest = calls.into_iter();
        for answer in answers {
            let Some(call) = rest.next() else { break };
            let kind = call.r#type().as_str_name();
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            metrics::histogram!("hydrogen_mesos_call_duration_seconds", "call" => kind)
                .record(elapsed.as_secs_f64());
            metrics::counter!("hydrogen_mesos_calls_total", "call" => kind, "status" => status_label(status))
                .increment(1);
            info!(
                call = kind,
                status = status.as_u16(),
                latency_ms,
                pipelined = true,
                "mesos call"
            );
            results.push(
                if status == StatusCode::ACCEPTED || status == StatusCode::OK {
                    Ok(())
                } else {
                    let message = String::from_utf8_lossy(&answer.body).into_owned();
                    Err(refusal(status, answer.location, message))
                },
            );
        }
        let unanswered: Vec<Call> = rest.collect();
        if let Some(e) = broken
            && !unanswered.is_empty()
        {
            debug!(error = %e, calls = unanswered.len(), "pipelined calls go again one by one");
            for call in unanswered {
                results.push(self.send(session.clone(), call).await);
            }
        }
        results
    }

    /// The authority and request head of pipelined calls to the session's
    /// master; `None` unless it is plain `http://`.
    fn pipeline_head(&self, session: &ActiveSession) -> Option<(String, String)> {
        let url = &session.endpoint;
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let media = self.shared.encoding.media_type();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {media}\r\n\
             Accept: {media}\r\n{STREAM_ID_HEADER}: {}\r\n",
            session.stream_id
        );
        if let Some(c) = &self.shared.credentials {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.principal, c.secret));
            head.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        Some((authority, head))
    }

    fn take_pipe(&self, authority: &str) -> Option<pipeline::Connection> {
        let mut pipes = self.shared.pipes.lock().unwrap_or_else(|p| p.into_inner());
        // Connections to another master (before a redirect) are of no use.
        pipes.retain(|c| c.authority() == authority);
        pipes.pop()
    }

    fn return_pipe(&self, connection: pipeline::Connection) {
        let mut pipes = self.shared.pipes.lock().unwrap_or_else(|p| p.into_inner());
        if pipes.len() < MAX_IDLE_PIPES {
            pipes.push(connection);
        }
    }
}

/// Idle pipelined connections kept for the next batch.
const MAX_IDLE_PIPES: usize = 64;

/// The error of a call the master answered with something else than 200 / 202.
fn refusal(status: StatusCode, location: Option<String>, message: String) -> CallError {
    match status {
        StatusCode::BAD_REQUEST => CallError::BadRequest(message),
        StatusCode::UNAUTHORIZED => CallError::Unauthorized(message),
        StatusCode::FORBIDDEN => CallError::Forbidden(message),
        StatusCode::TEMPORARY_REDIRECT => CallError::NotLeader { location },
        StatusCode::SERVICE_UNAVAILABLE => CallError::Unavailable(message),
        other => CallError::Unexpected {
            status: other.as_u16(),
            message,
        },
    }
}

/// The running subscription. Dropping it does not stop it: cancel the token.
pub struct Subscription {
    shared: Arc<Shared>,
    task: JoinHandle<Result<(), SubscriptionError>>,
}

impl Subscription {
    /// Starts subscribing in the background. Events arrive on the receiver;
    /// the loop stops when `cancel` fires, the receiver is dropped, or the
    /// master sends an ERROR event.
    pub fn start(
        config: SubscriptionConfig,
        cancel: CancellationToken,
    ) -> Result<(Self, mpsc::Receiver<SubscriptionEvent>), SubscriptionError> {
        if config.masters.is_empty() {
            return Err(SubscriptionError::NoMasters);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(SubscriptionError::Client)?;
        let shared = Arc::new(Shared {
            http,
            encoding: config.encoding,
            credentials: config.credentials.clone(),
            connect_timeout: config.connect_timeout,
            call_timeout: config.call_timeout,
            session: RwLock::new(None),
            pipes: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel(1024);
        let runner = Runner {
            config,
            shared: shared.clone(),
            events: tx,
            cancel,
            generations: AtomicU64::new(0),
        };
        let task = tokio::spawn(runner.run());
        Ok((Self { shared, task }, rx))
    }

    /// A handle for sending calls.
    pub fn caller(&self) -> Caller {
        Caller {
            shared: self.shared.clone(),
        }
    }

    /// Waits for the background loop to end (after cancellation or an ERROR).
    pub async fn join(self) -> Result<(), SubscriptionError> {
        match self.task.await {
            Ok(result) => result,
            // The loop itself never panics on input; a panic here is a bug
            // that must not be hidden.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(()),
        }
    }
}

/// Why one connection ended.
enum StreamEnd {
    /// Cancelled or the consumer went away: stop for good.
    Stop,
    /// The master sent ERROR: stop for good.
    MasterError(String),
    /// Anything else: reconnect.
    Lost(String),
}

struct Runner {
    config: SubscriptionConfig,
    shared: Arc<Shared>,
    events: mpsc::Sender<SubscriptionEvent>,
    cancel: CancellationToken,
    generations: AtomicU64,
}

/// The result of one SUBSCRIBE attempt against one master.
enum Attempt {
    Stream {
        endpoint: Url,
        stream_id: String,
        response: Box<reqwest::Response>,
    },
    Failed(String),
}

impl Runner {
    async fn run(mut self) -> Result<(), SubscriptionError> {
        let masters = self.config.masters.clone();
        // The master that last served us is tried first after a disconnection.
        let mut preferred: Option<Url> = None;
        let mut next_index = 0usize;
        let mut failures: u32 = 0;
        loop {
            if self.cancel.is_cancelled() || self.events.is_closed() {
                return Ok(());
            }
            let base = match preferred.take() {
                Some(url) => url,
                None => {
                    let url = masters[next_index % masters.len()].clone();
                    next_index = next_index.wrapping_add(1);
                    url
                }
            };
            let attempt = tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                a = self.subscribe_following_redirects(&base) => a,
            };
            match attempt {
                Attempt::Stream {
                    endpoint,
                    stream_id,
                    response,
                } => match self.consume(endpoint.clone(), stream_id, *response).await {
                    (StreamEnd::Stop, _) => return Ok(()),
                    (StreamEnd::MasterError(message), _) => {
                        return Err(SubscriptionError::MasterError { message });
                    }
                    (StreamEnd::Lost(reason), subscribed) => {
                        if subscribed {
                            failures = 0;
                            preferred = Some(base_of(&endpoint));
                        } else {
                            metrics::counter!("hydrogen_mesos_subscribe_failures_total")
                                .increment(1);
                            failures = failures.saturating_add(1);
                            self.report(SubscriptionEvent::ConnectFailed {
                                master: base.clone(),
                                reason,
                            })
                            .await;
                        }
                    }
                },
                Attempt::Failed(reason) => {
                    warn!(master = %base, %reason, "subscribing to mesos master failed");
                    metrics::counter!("hydrogen_mesos_subscribe_failures_total").increment(1);
                    failures = failures.saturating_add(1);
                    self.report(SubscriptionEvent::ConnectFailed {
                        master: base.clone(),
                        reason,
                    })
                    .await;
                }
            }
            if failures > 0 {
                let delay = backoff_delay(
                    self.config.backoff_initial,
                    self.config.backoff_max,
                    failures - 1,
                );
                debug!(
                    ?delay,
                    failures, "waiting before the next subscription attempt"
                );
                tokio::select! {
                    _ = self.cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }

    async fn report(&self, event: SubscriptionEvent) {
        // A closed receiver is noticed at the top of the loop.
        let _ = self.events.send(event).await;
    }

    async fn subscribe_following_redirects(&self, base: &Url) -> Attempt {
        let mut endpoint = match base.join(SCHEDULER_PATH) {
            Ok(url) => url,
            Err(e) => return Attempt::Failed(format!("bad master url {base}: {e}")),
        };
        let call = calls::subscribe(self.config.framework.clone());
        let body = self.shared.encoding.encode(&call);
        for _ in 0..=self.config.max_redirects {
            // Only the wait for the response head is bounded: a reqwest
            // request timeout would also cut the endless body, the stream.
            let sent = self.shared.request(endpoint.clone(), body.clone()).send();
            let response = match tokio::time::timeout(self.config.call_timeout, sent).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Attempt::Failed(format!("{endpoint}: {e}")),
                Err(_) => {
                    return Attempt::Failed(format!(
                        "{endpoint}: no answer to SUBSCRIBE within {:?}",
                        self.config.call_timeout
                    ));
                }
            };
            let status = response.status();
            if status == StatusCode::TEMPORARY_REDIRECT {
                let Some(location) = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                else {
                    return Attempt::Failed(format!("{endpoint}: 307 without a Location header"));
                };
                // Mesos sends `//host:port/api/v1/scheduler`: joining keeps our scheme.
                match endpoint.join(location) {
                    Ok(next) => {
                        info!(from = %endpoint, to = %next, "following redirect to the leading master");
                        endpoint = next;
                        continue;
                    }
                    Err(e) => {
                        return Attempt::Failed(format!(
                            "{endpoint}: unusable redirect Location {location:?}: {e}"
                        ));
                    }
                }
            }
            if status != StatusCode::OK {
                let message = response.text().await.unwrap_or_default();
                return Attempt::Failed(format!(
                    "{endpoint}: SUBSCRIBE answered {status}: {}",
                    message.trim()
                ));
            }
            let Some(stream_id) = response
                .headers()
                .get(STREAM_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
            else {
                return Attempt::Failed(format!(
                    "{endpoint}: SUBSCRIBE answered 200 without a {STREAM_ID_HEADER} header"
                ));
            };
            return Attempt::Stream {
                endpoint,
                stream_id,
                response: Box::new(response),
            };
        }
        Attempt::Failed(format!(
            "more than {} redirects starting at {base}",
            self.config.max_redirects
        ))
    }

    /// Reads one stream until it ends. Returns why, and whether SUBSCRIBED
    /// was seen on it.
    async fn consume(
        &mut self,
        endpoint: Url,
        stream_id: String,
        response: reqwest::Response,
    ) -> (StreamEnd, bool) {
        let encoding = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Encoding::from_content_type)
            .unwrap_or(self.shared.encoding);
        let bytes = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other));
        let mut records = FramedRead::new(
            StreamReader::new(bytes),
            RecordIoCodec::new(self.config.max_record_bytes),
        );
        let mut session: Option<Generation> = None;
        let mut idle = self.config.call_timeout;
        let end = loop {
            let next = tokio::select! {
                _ = self.cancel.cancelled() => break StreamEnd::Stop,
                n = tokio::time::timeout(idle, records.next()) => n,
            };
            let record = match next {
                Err(_) => {
                    break StreamEnd::Lost(format!(
                        "no event from {endpoint} for {idle:?}; presuming the master dead"
                    ));
                }
                Ok(None) => break StreamEnd::Lost(format!("{endpoint} closed the event stream")),
                Ok(Some(Err(e))) => break StreamEnd::Lost(stream_error(&endpoint, &e)),
                Ok(Some(Ok(record))) => record,
            };
            let event: Event = match encoding.decode(&record) {
                Ok(e) => e,
                Err(e) => break StreamEnd::Lost(decode_error(&endpoint, &e)),
            };
            debug!(event = ?event.r#type(), "mesos event");
            match (event.r#type(), session) {
                (event::Type::Subscribed, None) => {
                    let Some(subscribed) = event.subscribed else {
                        break StreamEnd::Lost("SUBSCRIBED event without its payload".into());
                    };
                    let heartbeat = subscribed
                        .heartbeat_interval_seconds
                        .filter(|s| s.is_finite() && *s > 0.0)
                        .map_or(DEFAULT_HEARTBEAT, Duration::from_secs_f64);
                    idle = heartbeat * self.config.missed_heartbeats.max(1);
                    let generation =
                        Generation(self.generations.fetch_add(1, Ordering::SeqCst) + 1);
                    let framework_id = subscribed.framework_id.clone();
                    // Later SUBSCRIBEs are failovers of this framework.
                    self.config.framework.id = Some(framework_id.clone());
                    self.shared.set_current(Some(ActiveSession {
                        generation,
                        endpoint: endpoint.clone(),
                        stream_id: stream_id.clone(),
                        framework_id: framework_id.clone(),
                    }));
                    session = Some(generation);
                    info!(framework_id = %framework_id.value, master = %endpoint, generation = generation.0, ?heartbeat, "subscribed to mesos");
                    let sent = self
                        .events
                        .send(SubscriptionEvent::Subscribed(Box::new(Session {
                            generation,
                            framework_id,
                            master: base_of(&endpoint),
                            heartbeat_interval: heartbeat,
                            master_info: subscribed.master_info,
                        })))
                        .await;
                    if sent.is_err() {
                        break StreamEnd::Stop;
                    }
                }
                (event::Type::Error, _) => {
                    let message = event
                        .error
                        .as_ref()
                        .map(|e| e.message.clone())
                        .unwrap_or_default();
                    warn!(%message, "mesos master sent ERROR; ending the subscription");
                    if let Some(generation) = session {
                        let _ = self
                            .events
                            .send(SubscriptionEvent::Event {
                                session: generation,
                                event: Box::new(event),
                            })
                            .await;
                    }
                    break StreamEnd::MasterError(message);
                }
                (event::Type::Heartbeat, _) => {}
                (_, None) => {
                    break StreamEnd::Lost(format!(
                        "first event from {endpoint} was {:?}, not SUBSCRIBED",
                        event.r#type()
                    ));
                }
                (_, Some(generation)) => {
                    let sent = self
                        .events
                        .send(SubscriptionEvent::Event {
                            session: generation,
                            event: Box::new(event),
                        })
                        .await;
                    if sent.is_err() {
                        break StreamEnd::Stop;
                    }
                }
            }
        };
        if let Some(generation) = session {
            // Only clear the slot if it is still ours.
            if self
                .shared
                .current()
                .is_some_and(|s| s.generation == generation)
            {
                self.shared.set_current(None);
            }
            let reason = match &end {
                StreamEnd::Stop => "subscription stopped".to_string(),
                StreamEnd::MasterError(m) => format!("master error: {m}"),
                StreamEnd::Lost(r) => r.clone(),
            };
            if matches!(end, StreamEnd::Lost(_)) {
                metrics::counter!("hydrogen_mesos_disconnects_total").increment(1);
            }
            info!(generation = generation.0, %reason, "mesos session ended");
            let _ = self
                .events
                .send(SubscriptionEvent::Disconnected {
                    session: generation,
                    reason,
                })
                .await;
        }
        (end, session.is_some())
    }
}

/// The status label of a call: static strings for the usual answers, so
/// the hot path does not allocate.
fn status_label(status: StatusCode) -> std::borrow::Cow<'static, str> {
    match status.as_u16() {
        200 => "200".into(),
        202 => "202".into(),
        307 => "307".into(),
        400 => "400".into(),
        401 => "401".into(),
        403 => "403".into(),
        503 => "503".into(),
        other => other.to_string().into(),
    }
}

fn base_of(endpoint: &Url) -> Url {
    let mut base = endpoint.clone();
    base.set_path("/");
    base.set_query(None);
    base
}

fn stream_error(endpoint: &Url, e: &RecordIoError) -> String {
    format!("event stream from {endpoint} broke: {e}")
}

fn decode_error(endpoint: &Url, e: &CodecError) -> String {
    format!("undecodable event from {endpoint}: {e}")
}

/// Exponential backoff with full jitter: uniform in `[0, min(max, initial·2^n)]`,
/// never below a millisecond so a tight loop cannot form.
pub fn backoff_delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = initial
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    let jittered = rand::rng().random_range(0..=nanos);
    Duration::from_nanos(jittered).max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_parse_with_and_without_scheme() {
        let m = parse_masters("http://a:5050, b:5050").expect("valid list");
        assert_eq!(m[0].as_str(), "http://a:5050/");
        assert_eq!(m[1].as_str(), "http://b:5050/");
        assert!(matches!(
            parse_masters(" , "),
            Err(SubscriptionError::NoMasters)
        ));
        let err = parse_masters("ftp://a:5050").unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
    }

    #[test]
    fn redirect_location_keeps_our_scheme() {
        let endpoint = Url::parse("http://m1:5050/api/v1/scheduler").expect("url");
        let next = endpoint.join("//m2:5051/api/v1/scheduler").expect("join");
        assert_eq!(next.as_str(), "http://m2:5051/api/v1/scheduler");
        assert_eq!(base_of(&next).as_str(), "http://m2:5051/");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 0..40 {
            let d = backoff_delay(initial, max, attempt);
            assert!(d <= max, "attempt {attempt}: {d:?}");
            let ceiling = initial * 2u32.saturating_pow(attempt.min(20));
            assert!(
                d <= ceiling.max(Duration::from_millis(1)),
                "attempt {attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let c = Credentials {
            principal: "hydrogen".into(),
            secret: "s3cret".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("hydrogen"));
    }
}
