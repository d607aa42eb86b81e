//! The API under hostile clients, against the real binary over raw TCP on
//! loopback: slowloris and silent connections, idle keep-alives, the
//! connection cap, oversized declared bodies, unbounded metric labels.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hydrogen_testkit::procs::{self, Hydrogen, free_port};

/// Generous: two busy cores shared with other builds.
const SLACK: Duration = Duration::from_secs(10);

fn serve(extra: &[&str]) -> Hydrogen {
    // No master listens there: the API serves without one.
    let master = format!("http://127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--master", &master];
    args.extend_from_slice(extra);
    Hydrogen::start(&args)
}

fn addr(h: &Hydrogen) -> SocketAddr {
    h.url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("hydrogen prints host:port")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the api");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    s
}

/// Whether the server has closed `s` (EOF, reset or broken pipe), without
/// waiting.
fn closed(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false;
            }
            Err(_) => break true,
        }
    };
    s.set_nonblocking(false).expect("blocking");
    closed
}

/// Sends a raw request and reads the answer head (status line and headers).
fn request(s: &mut TcpStream, raw: &str, within: Duration) -> String {
    s.write_all(raw.as_bytes()).expect("send request");
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn healthz_ok(addr: SocketAddr) -> bool {
    let mut s = connect(addr);
    request(
        &mut s,
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        SLACK,
    )
    .starts_with("HTTP/1.1 200")
}

#[test]
fn slowloris_and_silent_connections_are_closed_within_the_header_timeout() {
    let h = serve(&["--header-timeout", "2s", "--idle-timeout", "60s"]);
    let addr = addr(&h);
    let opened = Instant::now();
    // 300 slowloris clients: a request line, then a header byte now and then.
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
                .expect("send request line");
            s
        })
        .collect();
    // And 50 that connect and say nothing.
    let mut silent: Vec<TcpStream> = (0..50).map(|_| connect(addr)).collect();
    assert!(
        healthz_ok(addr),
        "the api answers while 350 bad connections are open"
    );
    let deadline = opened + Duration::from_secs(2) + SLACK;
    let mut open_slow: Vec<usize> = (0..slow.len()).collect();
    let mut open_silent: Vec<usize> = (0..silent.len()).collect();
    while (!open_slow.is_empty() || !open_silent.is_empty()) && Instant::now() < deadline {
        open_slow.retain(|&i| {
            // A write may fail once the server closed: that is a close too.
            slow[i].write_all(b"X").is_ok() && !closed(&mut slow[i])
        });
        open_silent.retain(|&i| !closed(&mut silent[i]));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        open_slow.is_empty() && open_silent.is_empty(),
        "{} slowloris and {} silent connections still open {:?} after they opened \
         (header timeout 2s)",
        open_slow.len(),
        open_silent.len(),
        opened.elapsed()
    );
    assert!(healthz_ok(addr), "the api still answers afterwards");
}

#[test]
fn idle_keep_alives_close_after_the_idle_timeout_but_a_long_watch_stays() {
    let h = serve(&["--header-timeout", "10s", "--idle-timeout", "2s"]);
    let addr = addr(&h);
    let mut idle = connect(addr);
    let head = request(&mut idle, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", SLACK);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut watch = connect(addr);
    let head = request(
        &mut watch,
        "GET /v1/api/app/watch HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n",
        SLACK,
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let answered = Instant::now();
    while !closed(&mut idle) {
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            answered.elapsed() < Duration::from_secs(2) + SLACK,
            "an idle keep-alive connection is still open after {:?} (idle timeout 2s)",
            answered.elapsed()
        );
    }
    // The idle connection went; a watch open longer than the idle timeout
    // is a request in flight, not an idle connection.
    while answered.elapsed() < Duration::from_secs(4) {
        assert!(
            !closed(&mut watch),
            "a watch was cut after {:?}",
            answered.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connections_over_the_cap_are_closed_at_once() {
    let h = serve(&["--max-connections", "20", "--header-timeout", "60s"]);
    let addr = addr(&h);
    let held: Vec<TcpStream> = (0..20).map(|_| connect(addr)).collect();
    // The server counts a connection once it accepted it: wait until the
    // 21st is refused (it may take a moment for all 20 to be accepted).
    let start = Instant::now();
    loop {
        let mut extra = connect(addr);
        let refused_at = Instant::now();
        let mut was_closed = false;
        while refused_at.elapsed() < Duration::from_secs(2) {
            if closed(&mut extra) {
                was_closed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if was_closed {
            break;
        }
        assert!(
            start.elapsed() < SLACK,
            "a connection over --max-connections 20 stays open"
        );
    }
    drop(held);
    let freed = Instant::now();
    while !healthz_ok(addr) {
        assert!(
            freed.elapsed() < SLACK,
            "closing connections does not make room for new ones"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_declared_body_over_the_limit_gets_413_at_once() {
    let h = serve(&["--body-limit", "1000", "--request-timeout", "30s"]);
    let addr = addr(&h);
    let mut s = connect(addr);
    let sent = Instant::now();
    // The headers promise 10 MB; no body follows.
    let head = request(
        &mut s,
        "POST /v1/api/app HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: 10000000\r\n\r\n",
        Duration::from_secs(25),
    );
    assert!(head.starts_with("HTTP/1.1 413"), "answer: {head:?}");
    assert!(
        sent.elapsed() < SLACK,
        "413 took {:?}: the server waited for the body",
        sent.elapsed()
    );
}

/// Reads a whole `Connection: close` answer (head and body).
fn fetch(addr: SocketAddr, raw: &str) -> String {
    let mut s = connect(addr);
    s.set_read_timeout(Some(SLACK)).expect("read timeout");
    s.write_all(raw.as_bytes()).expect("send request");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn random_paths_methods_and_tokens_do_not_grow_the_metrics() {
    let h = serve(&["--api-token", "s3cret"]);
    let addr = addr(&h);
    let prefixes = [
        "/",
        "/v1/api/",
        "/hydrogen.v1.AppService/",
        "/grpc.health.v1.Health/",
        "/grpc.reflection.v1.ServerReflection/",
    ];
    let metrics = |addr| {
        fetch(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n",
        )
    };
    // Scrape once first, so the scrape's own series exists from the start.
    metrics(addr);
    let mut seen = Vec::new();
    for i in 0..1200u32 {
        let path = format!("{}p{:x}", prefixes[i as usize % prefixes.len()], i * 7919);
        let method = if i % 3 == 0 {
            format!("M{i}")
        } else {
            "GET".into()
        };
        let auth = if i % 2 == 0 {
            "Authorization: Bearer s3cret\r\n"
        } else {
            ""
        };
        let answer = fetch(
            addr,
            &format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n"),
        );
        assert!(
            answer.starts_with("HTTP/1.1 "),
            "no answer to {method} {path}"
        );
        if i % 400 == 399 {
            let text = metrics(addr);
            let series = text
                .lines()
                .filter(|l| l.starts_with("hydrogen_api_requests_total{"))
                .count();
            seen.push((i + 1, series, text.len()));
        }
    }
    let text = metrics(addr);
    assert!(
        !text.contains("p1ef") && !text.contains("M3"),
        "a client-chosen path or method became a label"
    );
    let (_, first_series, first_len) = seen[0];
    for &(requests, series, len) in &seen {
        assert!(
            series == first_series && len < first_len + 4096,
            "after {requests} random requests: {series} request series, {len} bytes of \
             /metrics (after 400: {first_series}, {first_len} bytes): {seen:?}"
        );
    }
    assert!(
        first_series <= 12,
        "{first_series} series for a handful of (method, route, status) kinds"
    );
}

/// `hydrogen serve` with secrets in the environment only; returns the
/// child and its address once it listens (the store is usable by then).
fn serve_with_env(args: &[&str], env: &[(&str, &str)]) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(procs::hydrogen_binary());
    cmd.arg("serve")
        .args(args)
        .env("HYDROGEN_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("hydrogen starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let Some(url) = procs::read_announced(&mut lines, &[procs::LISTENING])
        .and_then(|urls| urls.into_iter().next())
    else {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = child.kill();
        panic!("hydrogen serve did not start: {err}");
    };
    std::thread::spawn(move || for _ in lines {});
    let addr = url
        .trim_start_matches("http://")
        .parse()
        .expect("host:port");
    (child, addr)
}

/// Sends one RESP command to Redis and returns the raw reply.
fn redis_command(port: u16, args: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect redis");
    s.set_read_timeout(Some(SLACK)).expect("read timeout");
    let mut raw = format!("*{}\r\n", args.len());
    for a in args {
        raw.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(raw.as_bytes()).expect("send to redis");
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_api_token_and_redis_password_come_from_files_never_the_command_line() {
    let redis = procs::Redis::start();
    let password = "pw-7f3a@:/x";
    let token = "tok-91c2e0";
    let reply = redis_command(redis.port, &["CONFIG", "SET", "requirepass", password]);
    assert!(reply.starts_with("+OK"), "{reply}");
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("api-token");
    let password_file = dir.path().join("redis-password");
    std::fs::write(&token_file, format!("{token}\n")).expect("write token");
    std::fs::write(&password_file, format!("{password}\n")).expect("write password");
    let master = format!("http://127.0.0.1:{}", free_port());
    let store = redis.url();
    let (mut child, addr) = serve_with_env(
        &[
            "--listen",
            "127.0.0.1:0",
            "--master",
            &master,
            "--store",
            &store,
        ],
        &[
            (
                "HYDROGEN_API_TOKEN_FILE",
                token_file.to_str().expect("utf-8"),
            ),
            (
                "HYDROGEN_REDIS_PASSWORD_FILE",
                password_file.to_str().expect("utf-8"),
            ),
        ],
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        !cmdline.contains(password) && !cmdline.contains(token),
        "a secret is on the command line: {cmdline}"
    );
    let body = r#"[{"name":"sec","resources":{"cpu":0.1,"mem":16},"instances":0,"command":{"cmd":"sleep 1"}}]"#;
    let deploy = |auth: &str| {
        fetch(
            addr,
            &format!(
                "POST /v1/api/app HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let refused = deploy("");
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let wrong = deploy("Authorization: Bearer tok-91c2e\r\n");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let answer = deploy(&format!("Authorization: Bearer {token}\r\n"));
    assert!(answer.starts_with("HTTP/1.1 20"), "{answer}");
    // The app reached the password-protected Redis.
    let mut s = TcpStream::connect(("127.0.0.1", redis.port)).expect("connect redis");
    s.set_read_timeout(Some(SLACK)).expect("read timeout");
    let auth = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n", password.len());
    s.write_all(auth.as_bytes()).expect("auth");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert!(
        buf[..n].starts_with(b"+OK"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(b"*3\r\n$7\r\nHEXISTS\r\n$13\r\nhydrogen:apps\r\n$3\r\nsec\r\n")
        .expect("hexists");
    let n = s.read(&mut buf).unwrap_or(0);
    let exists = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(exists, ":1\r\n", "app `sec` is not in redis");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn help_says_which_flags_show_in_ps_and_conflicting_secrets_fail() {
    let help = std::process::Command::new(procs::hydrogen_binary())
        .args(["serve", "--help"])
        .output()
        .expect("hydrogen --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "ps",
        "--api-token-file",
        "--redis-password-file",
        "--store-file",
        "--secret-file",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("t");
    std::fs::write(&file, "x\n").expect("write");
    let both = std::process::Command::new(procs::hydrogen_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--master",
            "http://127.0.0.1:1",
        ])
        .args(["--api-token", "y", "--api-token-file"])
        .arg(&file)
        .output()
        .expect("hydrogen runs");
    assert!(!both.status.success());
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(err.contains("--api-token-file"), "{err}");
}

/// A JSON array of `n` small apps named `{prefix}{i}`.
fn batch(prefix: &str, n: usize) -> String {
    let apps: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"name":"{prefix}{i}","resources":{{"cpu":0.1,"mem":16}},"instances":0,"command":{{"cmd":"sleep 1"}}}}"#
            )
        })
        .collect();
    format!("[{}]", apps.join(","))
}

fn post_apps(addr: SocketAddr, body: &str) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(
        format!(
            "POST /v1/api/app HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .expect("send the batch");
    s
}

/// `HLEN hydrogen:apps` of the Redis on `port`.
fn stored_apps(port: u16) -> i64 {
    let reply = redis_command(port, &["HLEN", "hydrogen:apps"]);
    reply
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("HLEN answered {reply:?}"))
}

/// Polls until the app count stays put for a second, then returns it.
fn settled_apps(port: u16) -> i64 {
    let start = Instant::now();
    let mut last = (stored_apps(port), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = stored_apps(port);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(1) {
            return now;
        }
        assert!(start.elapsed() < SLACK * 3, "the app count never settles");
    }
}

#[test]
fn a_batch_deploy_is_all_or_nothing_when_redis_stalls_mid_request() {
    const N: usize = 4000;
    let redis = procs::Redis::start();
    let store = redis.url();
    let h = serve(&[
        "--store",
        &store,
        "--redis-timeout",
        "1s",
        "--body-limit",
        "4000000",
    ]);
    let addr = addr(&h);
    let body = batch("stall", N);
    let mut s = post_apps(addr, &body);
    // Stop Redis while the request is being served, for longer than the
    // store's timeout.
    std::thread::sleep(Duration::from_millis(150));
    procs::signal(redis.pid(), "STOP");
    std::thread::sleep(Duration::from_secs(4));
    procs::signal(redis.pid(), "CONT");
    s.set_read_timeout(Some(SLACK * 3)).expect("read timeout");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let stored = settled_apps(redis.port);
    let status = answer.get(9..12).unwrap_or("").to_string();
    assert!(
        stored == 0 || stored == N as i64,
        "{stored} of {N} apps written (a partial batch); answer: {}",
        &answer[..answer.len().min(400)]
    );
    if status == "200" {
        assert_eq!(
            stored, N as i64,
            "answered 200 but {stored} apps are stored"
        );
        assert_eq!(
            answer.matches("\"created\":true").count(),
            N,
            "the answer lists every app"
        );
    } else {
        assert_eq!(
            status,
            "503",
            "answer: {}",
            &answer[..answer.len().min(400)]
        );
        assert!(
            answer.contains("all or none") || answer.contains("none of the") && stored == 0,
            "a 503 says what may have been written: {answer}"
        );
    }
    // Deploying the same batch again is safe, and completes it.
    let mut again = post_apps(addr, &body);
    again
        .set_read_timeout(Some(SLACK * 3))
        .expect("read timeout");
    let mut answer = String::new();
    let _ = again.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        &answer[..answer.len().min(400)]
    );
    assert_eq!(stored_apps(redis.port), N as i64);
}

#[test]
fn a_batch_deploy_completes_when_the_client_goes_away() {
    const N: usize = 4000;
    let redis = procs::Redis::start();
    let store = redis.url();
    let h = serve(&[
        "--store",
        &store,
        "--redis-timeout",
        "5s",
        "--body-limit",
        "4000000",
    ]);
    let addr = addr(&h);
    // Redis stalled: the request is read and waits on the store when the
    // client hangs up.
    procs::signal(redis.pid(), "STOP");
    let s = post_apps(addr, &batch("gone", N));
    std::thread::sleep(Duration::from_millis(1500));
    s.shutdown(std::net::Shutdown::Both).expect("hang up");
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    procs::signal(redis.pid(), "CONT");
    let stored = settled_apps(redis.port);
    assert_eq!(
        stored, N as i64,
        "{stored} of {N} apps written after the client went away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_grpc_message_is_resource_exhausted() {
    use hydrogen::api::proto as pb;
    let h = tokio::task::spawn_blocking(|| serve(&["--body-limit", "2000"]))
        .await
        .expect("start hydrogen");
    let channel = tonic::transport::Channel::from_shared(h.url.clone())
        .expect("uri")
        .connect()
        .await
        .expect("connect grpc");
    let mut client = pb::app_service_client::AppServiceClient::new(channel);
    let app = |name: &str, cmd: String| {
        let body = format!(
            r#"[{{"name":"{name}","resources":{{"cpu":0.1,"mem":16}},"instances":0,"command":{{"cmd":"{cmd}"}}}}]"#
        );
        let apps = hydrogen::spec::parse_apps(body.as_bytes()).expect("valid app");
        hydrogen::api::convert::app_to_proto(&apps[0])
    };
    let big = client
        .deploy(pb::DeployRequest {
            apps: vec![app("big", format!("echo {}", "x".repeat(5000)))],
        })
        .await
        .expect_err("over the limit");
    assert_eq!(big.code(), tonic::Code::ResourceExhausted, "{big:?}");
    assert!(big.message().contains("--body-limit"), "{}", big.message());
    client
        .deploy(pb::DeployRequest {
            apps: vec![app("small", "sleep 1".into())],
        })
        .await
        .expect("a message under the limit is served");
    drop(h);
}

/// `/readyz` as JSON.
fn readyz(addr: SocketAddr) -> serde_json::Value {
    let answer = fetch(
        addr,
        "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// The value of the `hydrogen_leader` gauge.
fn leader_gauge(addr: SocketAddr) -> Option<f64> {
    let answer = fetch(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    answer
        .lines()
        .find_map(|l| l.strip_prefix("hydrogen_leader "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn an_acquisition_answered_after_a_redis_stall_leaves_no_ghost_lease() {
    let redis = procs::Redis::start();
    // Someone else holds the lease throughout; our epoch counter is at 1.
    let held = r#"{"instance_id":"someone-else","address":"127.0.0.1:1","epoch":1}"#;
    assert!(redis_command(redis.port, &["SET", "hydrogen:epoch", "1"]).starts_with("+OK"));
    assert!(
        redis_command(redis.port, &["SET", "hydrogen:lease", held, "PX", "60000"])
            .starts_with("+OK")
    );
    let store = redis.url();
    // A long TTL: a ghost would last 10 s, far longer than the deadline below.
    let h = serve(&[
        "--store",
        &store,
        "--redis-timeout",
        "1s",
        "--lease-ttl",
        "10s",
        "--lease-renew",
        "1s",
        "--instance-id",
        "ghost-test",
    ]);
    let addr = addr(&h);
    // Redis stalls past our store timeout: our acquisitions lose their
    // answers.
    procs::signal(redis.pid(), "STOP");
    std::thread::sleep(Duration::from_secs(3));
    procs::signal(redis.pid(), "CONT");
    // What a late acquisition leaves when the other lease was gone by the
    // time it ran: a new epoch and a lease naming us that we never heard of.
    // (Written here rather than left to the race of a real late script, so
    // the test does not depend on how the client drops a timed-out call.)
    let reply = redis_command(redis.port, &["INCR", "hydrogen:epoch"]);
    let ghost_epoch: u64 = reply.trim().trim_start_matches(':').parse().expect("epoch");
    let ghost =
        format!(r#"{{"instance_id":"ghost-test","address":"{addr}","epoch":{ghost_epoch}}}"#);
    assert!(
        redis_command(
            redis.port,
            &["SET", "hydrogen:lease", &ghost, "PX", "10000"]
        )
        .starts_with("+OK")
    );
    let resumed = Instant::now();
    let mut disagreements = Vec::new();
    let epoch = loop {
        let ready = readyz(addr);
        let gauge = leader_gauge(addr);
        if ready["leader"] == true && gauge != Some(1.0) {
            disagreements.push((resumed.elapsed(), ready.clone(), gauge));
        }
        if ready["leader"] == true && gauge == Some(1.0) {
            break ready["epoch"].as_u64().unwrap_or(0);
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(5),
            "not leading {:?} after the ghost lease appeared (lease ttl 10s): /readyz {ready}, \
             hydrogen_leader {gauge:?}",
            resumed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        disagreements.is_empty(),
        "/readyz said leader while hydrogen_leader did not: {disagreements:?}"
    );
    assert!(
        epoch > ghost_epoch,
        "leading with epoch {epoch}, the ghost's was {ghost_epoch}: it should have been \
         released and the lease taken again"
    );
}
