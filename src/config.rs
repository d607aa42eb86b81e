//! Command-line and environment configuration of `hydrogen serve` and
//! `hydrogen dev`. Every option is a flag and a `HYDROGEN_*` variable;
//! invalid values fail at start with a message naming the option.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use hydrogen::mesos::encoding::Encoding;
use hydrogen::scheduler::runtime::SchedulerConfig;
use hydrogen::spec::{Executor, Uri};
use hydrogen_time::HumaneDuration;

/// The scheduler's own defaults, which the options' defaults are read from
/// (one source: `--help` shows what an unset option really gives).
fn defaults() -> SchedulerConfig {
    SchedulerConfig::new(Vec::new())
}

/// A default duration, as `--help` shows it.
fn humane(d: Duration) -> HumaneDuration {
    HumaneDuration(d)
}

fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("{text:?} is not a number"))
}

/// A growth factor: a number >= 1.
fn factor_arg(text: &str) -> Result<f64, String> {
    let n = number(text)?;
    if n < 1.0 {
        return Err(format!("{n} is below 1 (delays would shrink)"));
    }
    Ok(n)
}

/// A share: a number between 0 and 1.
fn share_arg(text: &str) -> Result<f64, String> {
    let n = number(text)?;
    if !(0.0..=1.0).contains(&n) {
        return Err(format!("{n} is not between 0 and 1"));
    }
    Ok(n)
}

/// How Hydrogen registers with Mesos and schedules.
#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerArgs {
    /// Framework name shown by Mesos.
    #[arg(long, env = "HYDROGEN_FRAMEWORK_NAME", default_value_t = defaults().framework_name)]
    pub framework_name: String,
    /// Mesos role the framework registers with (the one-role form of
    /// --roles).
    #[arg(long, env = "HYDROGEN_ROLE", default_value_t = defaults().default_role().to_owned())]
    pub role: String,
    /// Mesos roles the framework registers with, comma-separated
    /// (`team-a,team-b`; MULTI_ROLE). The first is the role of apps without
    /// `resources.role`; an app naming another role is refused. Replaces
    /// --role.
    #[arg(
        long,
        env = "HYDROGEN_ROLES",
        value_name = "ROLES",
        conflicts_with = "role"
    )]
    pub roles: Option<String>,
    /// Mesos principal (also the HTTP basic-auth user when a secret is set).
    #[arg(long, env = "HYDROGEN_PRINCIPAL", default_value_t = defaults().principal.unwrap_or_default())]
    pub principal: String,
    /// Secret for HTTP basic authentication with the master. Prefer the
    /// variable (or --secret-file) to keep it out of process listings.
    #[arg(long, env = "HYDROGEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// File holding the secret (trailing newline ignored).
    #[arg(long, env = "HYDROGEN_SECRET_FILE", value_name = "FILE")]
    pub secret_file: Option<String>,
    /// Unix user tasks run as.
    #[arg(long, env = "HYDROGEN_USER", default_value_t = defaults().user)]
    pub user: String,
    /// How long Mesos keeps our tasks running while no Hydrogen instance is
    /// connected (after that, Mesos kills them all).
    #[arg(long, env = "HYDROGEN_FAILOVER_TIMEOUT", default_value_t = humane(defaults().failover_timeout))]
    pub failover_timeout: HumaneDuration,
    /// Adopt this framework (one the master still runs and the store lost):
    /// written to the store and used to subscribe, when the store has none.
    #[arg(long, env = "HYDROGEN_FRAMEWORK_ID", value_name = "ID")]
    pub framework_id: Option<String>,
    /// Encoding of the Mesos API: protobuf (compact) or json.
    #[arg(long, env = "HYDROGEN_MESOS_ENCODING", value_enum, default_value_t = defaults().encoding)]
    pub mesos_encoding: Encoding,
    /// First relaunch delay after a task fails; grows by --backoff-factor.
    #[arg(long, env = "HYDROGEN_BACKOFF_INITIAL", default_value_t = humane(defaults().backoff.initial))]
    pub backoff_initial: HumaneDuration,
    /// Growth factor of the relaunch delay (>= 1).
    #[arg(long, env = "HYDROGEN_BACKOFF_FACTOR", default_value_t = defaults().backoff.factor, value_parser = factor_arg)]
    pub backoff_factor: f64,
    /// Cap of the relaunch delay.
    #[arg(long, env = "HYDROGEN_BACKOFF_MAX", default_value_t = humane(defaults().backoff.max))]
    pub backoff_max: HumaneDuration,
    /// A task running (and healthy) this long resets its app's backoff.
    #[arg(long, env = "HYDROGEN_BACKOFF_RESET", default_value_t = humane(defaults().backoff.reset_after))]
    pub backoff_reset: HumaneDuration,
    /// How long a declined agent's resources are not offered again.
    #[arg(long, env = "HYDROGEN_DECLINE_REFUSE", default_value_t = humane(defaults().decline_refuse))]
    pub decline_refuse: HumaneDuration,
    /// Offers of an agent whose maintenance (Mesos unavailability) starts
    /// within this long get no new task, and our tasks on it are moved off.
    #[arg(long, env = "HYDROGEN_MAINTENANCE_HORIZON", default_value_t = humane(defaults().maintenance_horizon))]
    pub maintenance_horizon: HumaneDuration,
    /// Period of implicit reconciliation with Mesos.
    #[arg(long, env = "HYDROGEN_RECONCILE_INTERVAL", default_value_t = humane(defaults().reconcile_interval))]
    pub reconcile_interval: HumaneDuration,
    /// How long an unreachable task keeps its slot before a replacement starts.
    #[arg(long, env = "HYDROGEN_UNREACHABLE_GRACE", default_value_t = humane(Duration::from_millis(defaults().plan.unreachable_grace_ms)))]
    pub unreachable_grace: HumaneDuration,
    /// A task the master answers TASK_UNKNOWN for this soon after
    /// subscribing keeps its slot this long: its agent may still be
    /// re-registering with a master that lost its state.
    #[arg(long, env = "HYDROGEN_REREGISTER_GRACE", default_value_t = humane(defaults().reregister_grace))]
    pub reregister_grace: HumaneDuration,
    /// Share of instances that must stay ready during a rolling update (0..=1).
    #[arg(long, env = "HYDROGEN_MIN_READY_SHARE", default_value_t = defaults().plan.min_ready_share, value_parser = share_arg)]
    pub min_ready_share: f64,
    /// New-version tasks started at once during a rolling update.
    #[arg(long, env = "HYDROGEN_SURGE", default_value_t = defaults().plan.surge, value_parser = clap::value_parser!(u32).range(1..))]
    pub surge: u32,
    /// New-version tasks that may fail during a rolling update before it
    /// pauses with the old tasks still running (0: never pause). An app's
    /// next update resumes or rolls back.
    #[arg(long, env = "HYDROGEN_UPDATE_FAILURES_TO_PAUSE", default_value_t = defaults().update_failures_to_pause)]
    pub update_failures_to_pause: u32,
    /// Longest wait between two KILLs of a task Mesos has not reported
    /// dead (retries start at 1 s and double up to this).
    #[arg(long, env = "HYDROGEN_KILL_RETRY_MAX", default_value_t = humane(defaults().kill_retry))]
    pub kill_retry_max: HumaneDuration,
    /// Command starting the custom executor that runs every app without an
    /// `executor` of its own (default: none, the Mesos command executor).
    #[arg(long, env = "HYDROGEN_EXECUTOR_CMD", value_name = "CMD")]
    pub executor_cmd: Option<String>,
    /// URI of the global executor's binary: fetched into each sandbox and made
    /// executable (needs --executor-cmd).
    #[arg(long, env = "HYDROGEN_EXECUTOR_URI", value_name = "URI")]
    pub executor_uri: Option<String>,
    /// Name Mesos shows for the global executor (default `hydrogen:<app>`;
    /// needs --executor-cmd).
    #[arg(long, env = "HYDROGEN_EXECUTOR_NAME", value_name = "NAME")]
    pub executor_name: Option<String>,
    /// Run --executor-cmd through `/bin/sh -c` (true) or exec it directly
    /// (false).
    #[arg(long, env = "HYDROGEN_EXECUTOR_SHELL", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::value_parser!(bool))]
    pub executor_shell: bool,
}

impl SchedulerArgs {
    /// The scheduler configuration for these masters.
    pub fn scheduler_config(&self, masters: Vec<reqwest::Url>) -> anyhow::Result<SchedulerConfig> {
        let mut config = SchedulerConfig::new(masters);
        config.framework_name = self.framework_name.clone();
        config.roles = self.roles()?;
        config.principal = Some(self.principal.clone());
        config.secret = match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => bail!("--secret and --secret-file: give one, not both"),
            (Some(s), None) => Some(s.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("--secret-file: cannot read {path}"))?
                    .trim_end()
                    .to_string(),
            ),
            (None, None) => None,
        };
        config.user = self.user.clone();
        config.failover_timeout = self.failover_timeout.0;
        config.adopt_framework_id = match &self.framework_id {
            Some(id) if id.trim().is_empty() || id.chars().any(char::is_control) => bail!(
                "--framework-id {id:?}: expected the id Mesos shows for the framework \
                 (e.g. 0f3c…-0001), without spaces or control characters"
            ),
            Some(id) => Some(id.trim().to_string()),
            None => None,
        };
        config.encoding = self.mesos_encoding;
        config.backoff.initial = self.backoff_initial.0;
        config.backoff.factor = self.backoff_factor;
        config.backoff.max = self.backoff_max.0;
        config.backoff.reset_after = self.backoff_reset.0;
        config.decline_refuse = self.decline_refuse.0;
        config.maintenance_horizon = self.maintenance_horizon.0;
        config.reconcile_interval = self.reconcile_interval.0;
        config.plan.unreachable_grace_ms =
            u64::try_from(self.unreachable_grace.0.as_millis()).unwrap_or(u64::MAX);
        config.reregister_grace = self.reregister_grace.0;
        config.plan.min_ready_share = self.min_ready_share;
        config.plan.surge = self.surge;
        config.update_failures_to_pause = self.update_failures_to_pause;
        config.kill_retry = self.kill_retry_max.0;
        config.launch_defaults.executor = self.global_executor()?;
        Ok(config)
    }

    /// The framework's roles: `--roles`, else the one of `--role`; each a
    /// valid Mesos role, none twice.
    pub fn roles(&self) -> anyhow::Result<Vec<String>> {
        let (flag, given) = match &self.roles {
            Some(list) => ("--roles", list.split(',').map(str::trim).collect()),
            None => ("--role", vec![self.role.trim()]),
        };
        let mut roles: Vec<String> = Vec::with_capacity(given.len());
        for role in given {
            if role.is_empty() {
                bail!(
                    "{flag}: an empty role; give role names separated by commas (`team-a,team-b`)"
                );
            }
            if let Err(rule) = hydrogen::spec::check_role(role) {
                bail!("{flag}: the role {rule}");
            }
            if roles.iter().any(|r| r == role) {
                bail!("{flag}: the role {role:?} is given twice");
            }
            roles.push(role.to_string());
        }
        Ok(roles)
    }

    /// The executor for apps without one, from the `--executor-*` options
    /// (the original's `-executor.*`); `None` without `--executor-cmd`.
    pub fn global_executor(&self) -> anyhow::Result<Option<Executor>> {
        let Some(cmd) = &self.executor_cmd else {
            for (given, flag) in [
                (self.executor_uri.is_some(), "--executor-uri"),
                (self.executor_name.is_some(), "--executor-name"),
            ] {
                if given {
                    bail!(
                        "{flag} configures the global executor, which needs --executor-cmd \
                         (the command that starts it, e.g. `./my-executor`)"
                    );
                }
            }
            return Ok(None);
        };
        if cmd.trim().is_empty() || cmd.contains('\0') {
            bail!("--executor-cmd must be a non-empty command without NUL, not {cmd:?}");
        }
        let non_empty = |flag: &str, v: &Option<String>| match v {
            Some(s) if s.trim().is_empty() => bail!("--{flag} must not be empty"),
            _ => Ok(v.clone()),
        };
        let uri = non_empty("executor-uri", &self.executor_uri)?;
        Ok(Some(Executor {
            name: non_empty("executor-name", &self.executor_name)?,
            cmd: cmd.clone(),
            shell: Some(self.executor_shell),
            // As the app's `executor.uri`: the binary must be runnable.
            uris: uri
                .into_iter()
                .map(|uri| Uri {
                    uri,
                    extract: None,
                    execute: Some(true),
                    cache: None,
                    output_file: None,
                })
                .collect(),
            environment: Default::default(),
        }))
    }
}

/// A unique id for this process: hostname plus a random suffix.
pub fn default_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hydrogen".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

/// The address others reach this instance's API at.
pub fn advertised(listen: SocketAddr, advertise: Option<&str>) -> String {
    advertise.map_or_else(|| listen.to_string(), str::to_string)
}

/// Applies `--lease-ttl` / `--lease-renew`, keeping renewals frequent enough
/// that a live leader never loses its lease to one slow round trip.
pub fn lease_timings(
    ha: &mut hydrogen::ha::HaConfig,
    ttl: Duration,
    renew: Duration,
) -> anyhow::Result<()> {
    if renew.is_zero() || renew * 3 > ttl {
        bail!(
            "--lease-renew ({renew:?}) must be positive and at most a third of --lease-ttl ({ttl:?})"
        );
    }
    ha.lease_ttl = ttl;
    ha.renew_interval = renew;
    // Stop leading one renewal (plus a little) before the lease can expire.
    ha.safety_margin = (ttl / 3).max(renew + renew / 2).min(ttl - renew);
    Ok(())
}

/// What `--help` of `serve` and `dev` says about secrets on command lines.
pub const SECRETS_HELP: &str = "\
Secrets and `ps`: every flag's value is visible to any user of the machine \
(`ps`, /proc/PID/cmdline). Pass secrets through a variable or a file instead: \
HYDROGEN_API_TOKEN or --api-token-file, HYDROGEN_SECRET or --secret-file, \
HYDROGEN_STORE or --store-file for a Redis URL with a password, \
HYDROGEN_REDIS_PASSWORD or --redis-password-file, \
HYDROGEN_REDIS_SENTINEL_PASSWORD or --redis-sentinel-password-file. The flags \
--api-token, --secret, --redis-password, --redis-sentinel-password and a \
--store URL with a password are the visible ones. Variable values of secrets are never shown by --help.";

/// A secret given as a value (flag or variable) or as a file (trailing
/// newline ignored); both is an error naming the two options, and an empty
/// secret is an error (an empty file is a mistake, not "no secret").
pub fn secret(
    value: Option<&str>,
    file: Option<&std::path::Path>,
    flag: &str,
) -> anyhow::Result<Option<String>> {
    let secret = match (value, file) {
        (Some(_), Some(_)) => bail!("--{flag} and --{flag}-file: give one, not both"),
        (Some(v), None) => v.to_string(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("--{flag}-file: cannot read {}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
        (None, None) => return Ok(None),
    };
    if secret.is_empty() {
        bail!("--{flag}: must not be empty");
    }
    Ok(Some(secret))
}

/// The store URL with `password` set in it (percent-encoded as a URL
/// needs); a URL that already carries a password is an error, since one of
/// the two would be silently ignored.
pub fn store_with_password(store: &str, password: Option<&str>) -> anyhow::Result<String> {
    let Some(password) = password else {
        return Ok(store.to_string());
    };
    if let Some(rest) = hydrogen::store::redis::sentinel::SCHEMES
        .iter()
        .find_map(|scheme| store.strip_prefix(scheme).map(|rest| (*scheme, rest)))
    {
        // Not a URL reqwest can parse (several hosts): the userinfo goes
        // right after the scheme.
        let (scheme, rest) = rest;
        let authority = rest.split('/').next().unwrap_or("");
        if authority.contains('@') {
            bail!(
                "--store already has credentials and --redis-password gives a password: give one"
            );
        }
        let encoded =
            percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC);
        return Ok(format!("{scheme}:{encoded}@{rest}"));
    }
    if !(store.starts_with("redis://") || store.starts_with("rediss://")) {
        bail!("--redis-password: only for a redis://, rediss:// or redis+sentinel:// --store");
    }
    let mut url = reqwest::Url::parse(store).map_err(|e| {
        anyhow::anyhow!(
            "--store {}: not a valid URL: {e}",
            hydrogen::store::redis::redact_url(store)
        )
    })?;
    if url.password().is_some() {
        bail!("--store already has a password and --redis-password gives another: give one");
    }
    url.set_password(Some(password))
        .map_err(|()| anyhow::anyhow!("--store: this URL cannot carry a password"))?;
    Ok(url.to_string())
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_a_value_or_a_file_not_both() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").expect("write");
        assert_eq!(
            secret(None, Some(&path), "api-token").expect("file"),
            Some("s3cret".into())
        );
        assert_eq!(
            secret(Some("v"), None, "api-token").expect("value"),
            Some("v".into())
        );
        assert_eq!(secret(None, None, "api-token").expect("none"), None);
        let both = secret(Some("v"), Some(&path), "api-token").expect_err("both");
        assert!(both.to_string().contains("--api-token-file"), "{both}");
        std::fs::write(&path, "\n").expect("write");
        let empty = secret(None, Some(&path), "api-token").expect_err("empty");
        assert!(empty.to_string().contains("must not be empty"), "{empty}");
        let missing =
            secret(None, Some(&dir.path().join("nope")), "api-token").expect_err("missing");
        assert!(
            format!("{missing:#}").contains("cannot read"),
            "{missing:#}"
        );
    }

    #[test]
    fn a_redis_password_goes_into_the_url_encoded() {
        assert_eq!(
            store_with_password("redis://redis:6379/0", Some("p@ss:/w")).expect("url"),
            "redis://:p%40ss%3A%2Fw@redis:6379/0"
        );
        assert_eq!(
            store_with_password("redis://redis:6379", None).expect("url"),
            "redis://redis:6379"
        );
        assert!(store_with_password("redis://:a@redis:6379", Some("b")).is_err());
        assert!(store_with_password("memory", Some("b")).is_err());
        assert_eq!(
            store_with_password("redis+sentinel://s1:26379,s2:26379/m/1", Some("p@ss"))
                .expect("url"),
            "redis+sentinel://:p%40ss@s1:26379,s2:26379/m/1"
        );
        assert!(store_with_password("redis+sentinel://:a@s1:26379/m", Some("b")).is_err());
    }
}

#[cfg(test)]
mod framework_id_tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        scheduler: SchedulerArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<SchedulerConfig> {
        let cli = Cli::try_parse_from(std::iter::once("hydrogen").chain(args.iter().copied()))
            .expect("parses");
        cli.scheduler.scheduler_config(Vec::new())
    }

    #[test]
    fn a_framework_id_to_adopt_is_trimmed_and_a_blank_one_refused() {
        assert_eq!(config(&[]).expect("none").adopt_framework_id, None);
        assert_eq!(
            config(&["--framework-id", " fw-1-0000 "])
                .expect("given")
                .adopt_framework_id
                .as_deref(),
            Some("fw-1-0000")
        );
        let blank = config(&["--framework-id", " "]).expect_err("blank");
        assert!(blank.to_string().contains("--framework-id"), "{blank}");
        let control = config(&["--framework-id", "fw\n1"]).expect_err("control");
        assert!(
            control.to_string().contains("control characters"),
            "{control}"
        );
    }

    #[test]
    fn roles_come_from_roles_or_role_each_valid_and_once() {
        let roles = |args: &[&str]| config(args).map(|c| c.roles);
        assert_eq!(roles(&[]).expect("default"), ["*"]);
        assert_eq!(roles(&["--role", "web"]).expect("one"), ["web"]);
        assert_eq!(
            roles(&["--roles", "team-a, team-b/web"]).expect("list"),
            ["team-a", "team-b/web"]
        );
        for (bad, says) in [
            ("a,,b", "an empty role"),
            ("a,a", "given twice"),
            ("a b", "Mesos role name"),
            ("a//b", "Mesos role name"),
        ] {
            let e = roles(&["--roles", bad]).expect_err(bad).to_string();
            assert!(e.contains("--roles") && e.contains(says), "{bad}: {e}");
        }
        let both = Cli::try_parse_from(["hydrogen", "--role", "a", "--roles", "b"]);
        assert!(both.is_err(), "--role and --roles together are refused");
    }
}
