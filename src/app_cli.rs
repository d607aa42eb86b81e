//! `hydrogen app ...`: a small command line for people, over gRPC.
//!
//! Exit codes: 0 success; 1 the server failed or could not be reached;
//! 3 no such app; 4 conflict (exists with another spec, stale version,
//! being killed); 5 invalid input; 2 is clap's for bad usage.

use std::io::Write;

use anyhow::Context;
use futures_util::StreamExt;
use hydrogen::api::proto::{AppState, Task, TaskState};
use hydrogen::client::{Client, ClientError};
use tonic::Code;

/// `hydrogen app` and its options.
#[derive(Debug, clap::Args)]
pub struct AppArgs {
    /// Hydrogen API address.
    #[arg(
        long,
        global = true,
        env = "HYDROGEN_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// API token, when the server requires one.
    #[arg(
        long,
        global = true,
        env = "HYDROGEN_API_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AppCommand {
    /// Deploy the apps of a JSON file (an array of apps, or one app).
    Deploy {
        /// The app JSON file, `-` for standard input.
        file: String,
    },
    /// Update an app from a JSON file (rolling update, or scale).
    Update {
        /// The app JSON file, `-` for standard input.
        file: String,
        /// Refuse if the app is no longer at this version.
        #[arg(long)]
        expected_version: Option<u64>,
    },
    /// Every task Hydrogen knows.
    List,
    /// One app: version, tasks, and why tasks wait.
    State {
        /// The app's name.
        name: String,
    },
    /// Kill every task of an app, then forget it.
    Kill {
        /// The app's name.
        name: String,
        /// Refuse if the app is no longer at this version.
        #[arg(long)]
        expected_version: Option<u64>,
    },
    /// Follow task state changes as they happen.
    Watch {
        /// Only this app's tasks.
        name: Option<String>,
        /// Start after this revision (replaying what the log still holds).
        #[arg(long)]
        after: Option<u64>,
    },
}

/// What the process should exit with.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    match error
        .downcast_ref::<ClientError>()
        .and_then(ClientError::code)
    {
        Some(Code::NotFound) => 3,
        Some(Code::AlreadyExists | Code::FailedPrecondition) => 4,
        Some(Code::InvalidArgument) => 5,
        _ => match error.downcast_ref::<hydrogen::spec::SpecError>() {
            Some(_) => 5,
            None => 1,
        },
    }
}

fn read_body(file: &str) -> anyhow::Result<Vec<u8>> {
    if file == "-" {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)
            .context("reading standard input")?;
        Ok(body)
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {file}"))
    }
}

fn state_name(state: i32) -> String {
    TaskState::try_from(state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("TASK_STATE_")
                .to_string()
        })
        .unwrap_or_else(|_| state.to_string())
}

fn health(healthy: Option<bool>) -> &'static str {
    match healthy {
        Some(true) => "healthy",
        Some(false) => "unhealthy",
        None => "-",
    }
}

fn print_tasks(out: &mut impl Write, tasks: &[Task]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<48} {:<12} {:<9} {:<24} IPS",
        "TASK", "STATE", "HEALTH", "HOST"
    )?;
    for t in tasks {
        writeln!(
            out,
            "{:<48} {:<12} {:<9} {:<24} {}",
            t.id,
            state_name(t.state),
            health(t.healthy),
            t.hostname,
            t.ips.join(",")
        )?;
    }
    Ok(())
}

fn print_state(out: &mut impl Write, state: &AppState) -> std::io::Result<()> {
    let name = state.spec.as_ref().map_or("", |s| s.name.as_str());
    let instances = state.spec.as_ref().and_then(|s| s.instances).unwrap_or(1);
    writeln!(
        out,
        "app {name}  version {}  state {}  running {}/{instances}",
        state.version, state.state, state.running
    )?;
    if let Some(status) = &state.status
        && !status.message.is_empty()
    {
        writeln!(out, "why: {}", status.message)?;
        for (rule, count) in &status.rejections {
            writeln!(out, "  {count:>6} offers rejected: {rule}")?;
        }
    }
    print_tasks(out, &state.tasks)
}

/// Fields of the file accepted but ignored, on stderr (stdout stays the
/// answer, JSON with `--json`).
fn warn_ignored(app: &str, warnings: &[hydrogen::spec::Warning]) {
    for w in warnings {
        eprintln!("warning: app {app}: {w}");
    }
}

/// Runs one `hydrogen app` command.
pub async fn run(args: AppArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.server, args.token.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    match args.command {
        AppCommand::Deploy { file } => {
            let body = read_body(&file)?;
            let trimmed = body.iter().find(|b| !b.is_ascii_whitespace());
            let parsed = if trimmed == Some(&b'[') {
                hydrogen::spec::parse_apps_warned(&body)?
            } else {
                vec![hydrogen::spec::parse_app_warned(&body)?]
            };
            // The file is read here, so the server never sees the ignored
            // fields: say so as the server would.
            for p in &parsed {
                warn_ignored(&p.app.name, &p.warnings);
            }
            let apps: Vec<_> = parsed.into_iter().map(|p| p.app).collect();
            for result in client.deploy(&apps).await? {
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"name": result.name, "version": result.version, "created": result.created, "message": result.message})
                    )?;
                } else {
                    writeln!(
                        out,
                        "{} (version {}): {}",
                        result.name, result.version, result.message
                    )?;
                }
            }
        }
        AppCommand::Update {
            file,
            expected_version,
        } => {
            let parsed = hydrogen::spec::parse_app_warned(&read_body(&file)?)?;
            warn_ignored(&parsed.app.name, &parsed.warnings);
            let app = parsed.app;
            let result = client.update(&app, expected_version).await?;
            writeln!(
                out,
                "{} (version {}): {}",
                result.name, result.version, result.message
            )?;
        }
        AppCommand::List => {
            let tasks = client.list_all().await?;
            if args.json {
                let list: Vec<_> = tasks.iter().map(task_json).collect();
                writeln!(out, "{}", serde_json::Value::Array(list))?;
            } else {
                print_tasks(&mut out, &tasks)?;
            }
        }
        AppCommand::State { name } => {
            let state = client.state(&name).await?;
            if args.json {
                let tasks: Vec<_> = state.tasks.iter().map(task_json).collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"name": name, "version": state.version, "state": state.state, "running": state.running, "tasks": tasks, "why": state.status.as_ref().map(|s| s.message.clone())})
                )?;
            } else {
                print_state(&mut out, &state)?;
            }
        }
        AppCommand::Kill {
            name,
            expected_version,
        } => {
            let result = client.kill(&name, expected_version).await?;
            writeln!(
                out,
                "{} (version {}): {}",
                result.name, result.version, result.message
            )?;
        }
        AppCommand::Watch { name, after } => {
            if !args.json {
                writeln!(
                    out,
                    "{:>8} {:<48} {:<12} {:<9} HOST",
                    "REV", "TASK", "STATE", "HEALTH"
                )?;
            }
            drop(out);
            let mut events = client.watch_tasks(name, after);
            while let Some(event) = events.next().await {
                let e = event?;
                let mut out = std::io::stdout().lock();
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"revision": e.revision, "app": e.app, "task_id": e.task_id, "state": state_name(e.state), "healthy": e.healthy, "hostname": e.hostname})
                    )?;
                } else {
                    writeln!(
                        out,
                        "{:>8} {:<48} {:<12} {:<9} {}",
                        e.revision,
                        e.task_id,
                        state_name(e.state),
                        health(e.healthy),
                        e.hostname
                    )?;
                }
                out.flush()?;
            }
        }
    }
    Ok(())
}

fn task_json(t: &Task) -> serde_json::Value {
    serde_json::json!({"id": t.id, "app": t.app, "instance": t.instance, "state": state_name(t.state), "healthy": t.healthy, "hostname": t.hostname, "ips": t.ips, "version": t.version})
}
