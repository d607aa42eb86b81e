//! Configuration and observability through the real binary: the `--config`
//! TOML file and its precedence (flag > variable > file > default), options
//! that fail at start naming themselves, JSON logs with one line per Mesos
//! call, no secret in any output, and every documented metric family on
//! `/metrics` of a `hydrogen dev` that ran an app.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hydrogen_testkit::{procs, web};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);
const SECRET: &str = "mesos-s3cret-for-the-test";
const TOKEN: &str = "api-t0ken-for-the-test";

fn hydrogen() -> Command {
    let mut cmd = Command::new(procs::hydrogen_binary());
    // The developer's environment must not configure the binary under test.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HYDROGEN_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_BACKTRACE", "0");
    cmd
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    f
}

/// A running `hydrogen` server whose output is collected line by line.
struct Server {
    child: Child,
    api: String,
    sim: Option<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    pipe: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            into.lock().expect("lines lock").push(line);
        }
    })
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hydrogen starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout piped"), stdout.clone()),
            collect(child.stderr.take().expect("stderr piped"), stderr.clone()),
        ];
        let mut server = Server {
            child,
            api: String::new(),
            sim: None,
            stdout,
            stderr,
            readers,
        };
        let start = std::time::Instant::now();
        while server.api.is_empty() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "hydrogen exited with {status} before listening: {:?}",
                    server.stderr.lock().expect("lines lock")
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "hydrogen never printed its address"
            );
            for line in server.stdout.lock().expect("lines lock").iter() {
                if let Some(url) = procs::announced(line, procs::LISTENING) {
                    server.api = url.to_string();
                } else if let Some(url) = procs::announced(line, procs::SIM_LISTENING) {
                    server.sim = Some(url.to_string());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Stops the process gracefully and returns (stdout, stderr).
    fn stop(mut self) -> (Vec<String>, Vec<String>) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = std::time::Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let out = std::mem::take(&mut *self.stdout.lock().expect("lines lock"));
        let err = std::mem::take(&mut *self.stderr.lock().expect("lines lock"));
        (out, err)
    }
}

fn dev(extra: &[&str]) -> Command {
    let mut cmd = hydrogen();
    cmd.args([
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--sim-listen",
        "127.0.0.1:0",
    ]);
    cmd.args(extra);
    cmd
}

async fn poll<T>(what: &str, f: impl AsyncFnMut() -> Option<T>) -> T {
    web::poll(DEADLINE, what, f).await
}

/// The framework name the simulated master registered.
async fn framework_name(sim: &str) -> String {
    poll("the framework to subscribe", async || {
        let state: Value = reqwest::get(format!("{sim}/master/state"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        state["frameworks"][0]["name"].as_str().map(str::to_string)
    })
    .await
}

#[tokio::test]
async fn a_flag_beats_its_variable_which_beats_the_config_file() {
    let file = toml_file("framework-name = \"from-file\"\nagents = 2\n");
    let path = file.path().to_str().expect("utf-8 path");

    let only_file = Server::start(dev(&["--config", path]));
    let name = framework_name(only_file.sim.as_deref().expect("sim url")).await;
    assert_eq!(name, "from-file");
    drop(only_file);

    let mut cmd = dev(&[]);
    cmd.env("HYDROGEN_CONFIG", path)
        .env("HYDROGEN_FRAMEWORK_NAME", "from-env");
    let env = Server::start(cmd);
    assert_eq!(
        framework_name(env.sim.as_deref().expect("sim url")).await,
        "from-env"
    );
    drop(env);

    let mut cmd = dev(&["--config", path, "--framework-name", "from-flag"]);
    cmd.env("HYDROGEN_FRAMEWORK_NAME", "from-env");
    let flag = Server::start(cmd);
    assert_eq!(
        framework_name(flag.sim.as_deref().expect("sim url")).await,
        "from-flag"
    );
}

#[test]
fn invalid_options_fail_at_start_naming_the_option() {
    let bad_key = toml_file("agnets = 3\n");
    let bad_value = toml_file("backoff-factor = 0.5\n");
    let bad_key_path = bad_key.path().to_str().expect("utf-8 path");
    let bad_value_path = bad_value.path().to_str().expect("utf-8 path");
    // (arguments, variables, what stderr must name)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec!["dev", "--backoff-max", "5y"],
            vec![],
            vec!["--backoff-max", "5y"],
        ),
        (
            vec!["dev", "--listen", "localhost"],
            vec![],
            vec!["--listen", "localhost"],
        ),
        (vec!["dev", "--agents", "0"], vec![], vec!["--agents"]),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--master",
                "http://m:5050",
            ],
            vec![("HYDROGEN_LEASE_TTL", "soon")],
            vec!["--lease-ttl", "soon"],
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--master",
                "http://m:5050",
                "--lease-renew",
                "1s",
            ],
            vec![],
            vec!["--lease-renew"],
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0", "--master", "ftp://m"],
            vec![],
            vec!["--master"],
        ),
        (
            vec!["dev", "--config", bad_key_path],
            vec![],
            vec![bad_key_path, "unknown key `agnets`"],
        ),
        (
            vec!["dev"],
            vec![("HYDROGEN_CONFIG", bad_value_path)],
            vec![bad_value_path, "`backoff-factor`", "0.5"],
        ),
        (
            vec!["sim", "--config", bad_key_path],
            vec![],
            vec![bad_key_path, "unknown key `agnets`"],
        ),
    ];
    for (args, env, expected) in cases {
        let output = hydrogen()
            .args(&args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("hydrogen runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} {env:?} must fail");
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "{args:?} {env:?}: {needle:?} not in: {stderr}"
            );
        }
    }
}

#[test]
fn help_lists_every_option_with_its_variable() {
    for (sub, options) in [
        (
            "serve",
            &[
                "--config",
                "HYDROGEN_CONFIG",
                "--master",
                "HYDROGEN_MASTER",
                "--secret-file",
            ][..],
        ),
        (
            "dev",
            &[
                "--config",
                "HYDROGEN_CONFIG",
                "--agents",
                "HYDROGEN_DEV_AGENTS",
            ][..],
        ),
        (
            "sim",
            &["--config", "HYDROGEN_SIM_CONFIG", "HYDROGEN_SIM_AGENTS"][..],
        ),
    ] {
        let output = hydrogen()
            .args([sub, "--help"])
            .output()
            .expect("hydrogen runs");
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        for option in options {
            assert!(
                help.contains(option),
                "hydrogen {sub} --help lacks {option}"
            );
        }
    }
}

/// The file in the README and `examples/` starts a real `hydrogen serve`.
#[test]
fn the_example_config_file_starts_serve() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hydrogen.toml");
    let mut cmd = hydrogen();
    cmd.args(["serve", "--config", example, "--listen", "127.0.0.1:0"]);
    let server = Server::start(cmd);
    let (_, stderr) = server.stop();
    // The example asks for JSON logs.
    let first = stderr.first().expect("a log line");
    assert!(serde_json::from_str::<Value>(first).is_ok(), "{first}");
}

/// A Prometheus text exposition: the families that have a `# TYPE` line.
fn families(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn dev_logs_json_leaks_no_secret_and_exports_every_metric_family() {
    let mut cmd = dev(&["--log-format", "json"]);
    cmd.env("HYDROGEN_SECRET", SECRET)
        .env("HYDROGEN_API_TOKEN", TOKEN);
    let server = Server::start(cmd);
    let client = reqwest::Client::new();
    let app = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/test-app.json"
    ))
    .expect("example app");
    let deployed = client
        .post(format!("{}/v1/api/app", server.api))
        .bearer_auth(TOKEN)
        .body(app)
        .send()
        .await
        .expect("deploy answered");
    assert_eq!(deployed.status(), 200);
    // A wrong token is refused, and must not be logged either.
    let refused = client
        .get(format!("{}/v1/api/app?name=test-app", server.api))
        .bearer_auth("wrong-token-for-the-test")
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 401);
    poll("5 running tasks", async || {
        let body: Value = client
            .get(format!("{}/v1/api/app?name=test-app", server.api))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let running = body["tasks"].as_array().map_or(0, |t| {
            t.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
        });
        (running == 5).then_some(())
    })
    .await;

    let metrics = client
        .get(format!("{}/metrics", server.api))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("metrics answered")
        .text()
        .await
        .expect("metrics body");
    let exported = families(&metrics);
    for family in hydrogen::telemetry::FAMILIES {
        let kind = family.kind.as_str();
        assert!(
            exported.iter().any(|(n, k)| n == family.name && k == kind),
            "{} ({kind}) missing from /metrics:\n{metrics}",
            family.name
        );
    }
    for labels in [
        r#"hydrogen_status_updates_total{state="TASK_RUNNING"} 5"#,
        r#"hydrogen_mesos_calls_total{call="ACCEPT",status="202"}"#,
        r#"hydrogen_api_requests_total{method="POST",route="/v1/api/app",status="200"} 1"#,
        r#"hydrogen_store_operation_duration_seconds_bucket{backend="memory",op="create_apps",outcome="ok""#,
        r#"hydrogen_api_request_duration_seconds_bucket{method="POST",route="/v1/api/app",status="200",le="#,
        "hydrogen_leader 1",
        "hydrogen_mesos_subscribed 1",
    ] {
        assert!(
            metrics.contains(labels),
            "{labels} missing from:\n{metrics}"
        );
    }

    let (stdout, stderr) = server.stop();
    let mut mesos_calls = std::collections::BTreeMap::<String, usize>::new();
    let mut task_states = 0;
    for line in &stderr {
        let log: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            log["level"].is_string() && log["fields"]["message"].is_string(),
            "{line}"
        );
        let fields = &log["fields"];
        if fields["message"] == "mesos call" {
            assert_eq!(log["level"], "INFO", "{line}");
            assert!(fields["latency_ms"].is_number(), "{line}");
            assert!(!fields["status"].is_null(), "{line}");
            let call = fields["call"].as_str().expect("call type").to_string();
            *mesos_calls.entry(call).or_default() += 1;
        }
        if fields["message"] == "task status" {
            task_states += 1;
        }
    }
    for call in ["ACCEPT", "ACKNOWLEDGE", "RECONCILE"] {
        assert!(
            mesos_calls.contains_key(call),
            "no {call} line in {mesos_calls:?}"
        );
    }
    // STARTING and RUNNING for each of the five tasks.
    assert!(task_states >= 10, "{task_states} task status lines");
    for line in stdout.iter().chain(&stderr) {
        for secret in [SECRET, TOKEN, "wrong-token-for-the-test"] {
            assert!(!line.contains(secret), "{secret} leaked: {line}");
        }
    }
}

#[test]
fn a_redis_password_never_reaches_the_output() {
    let output = hydrogen()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--master",
            "http://127.0.0.1:1",
            "--redis-timeout",
            "300ms",
            "--store",
            "redis://:redis-pw-for-the-test@127.0.0.1:1/0",
        ])
        .output()
        .expect("hydrogen runs");
    assert!(!output.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("redis://:***@127.0.0.1:1/0"), "{text}");
    assert!(!text.contains("redis-pw-for-the-test"), "{text}");
}

/// A password-protected Redis: the password works, never shows in the
/// output, and store operations are measured under `backend="redis"`.
#[tokio::test]
async fn serve_with_a_redis_password_measures_the_store_and_hides_the_password() {
    const PASSWORD: &str = "redis-pw-of-the-live-test";
    let redis = procs::Redis::start();
    let mut conn =
        std::net::TcpStream::connect(("127.0.0.1", redis.port)).expect("redis reachable");
    conn.write_all(format!("CONFIG SET requirepass {PASSWORD}\r\n").as_bytes())
        .expect("send");
    let mut ok = [0u8; 5];
    conn.read_exact(&mut ok).expect("answer");
    assert_eq!(&ok, b"+OK\r\n");
    let store = format!("redis://:{PASSWORD}@127.0.0.1:{}/0", redis.port);
    let mut cmd = hydrogen();
    cmd.args([
        "--log-format",
        "json",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--master",
        "http://127.0.0.1:1",
    ])
    .env("HYDROGEN_STORE", &store);
    let server = Server::start(cmd);
    let client = reqwest::Client::new();
    let app = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/test-app.json"
    ))
    .expect("example app");
    let deployed = client
        .post(format!("{}/v1/api/app", server.api))
        .body(app)
        .send()
        .await
        .expect("deploy answered");
    assert_eq!(deployed.status(), 200);
    let metrics = poll("the lease taken through Redis", async || {
        let text = reqwest::get(format!("{}/metrics", server.api))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("hydrogen_leader 1").then_some(text)
    })
    .await;
    for op in ["create_apps", "acquire_lease"] {
        let series = format!(
            r#"hydrogen_store_operation_duration_seconds_count{{backend="redis",op="{op}",outcome="ok"}}"#
        );
        assert!(
            metrics.contains(&series),
            "{series} missing from:\n{metrics}"
        );
    }
    let (stdout, stderr) = server.stop();
    for line in stdout.iter().chain(&stderr) {
        assert!(
            !line.contains(PASSWORD),
            "the Redis password leaked: {line}"
        );
    }
}
