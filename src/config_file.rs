//! The `--config FILE` option of `hydrogen serve`, `dev` and `sim`: options
//! read from a TOML file whose keys are the long option names
//! (`lease-ttl = "2s"`, `master = ["http://m1:5050", "http://m2:5050"]`).
//!
//! Precedence: a flag beats its `HYDROGEN_*` variable, which beats the file,
//! which beats the built-in default.
//!
//! How: the command line is parsed once with every option made optional, to
//! find the file and learn which options a flag or a variable already set
//! (clap's `value_source`). Each remaining key of the file becomes a
//! `--key=value` argument appended to the command line, which is then parsed
//! for real. So a file value goes through the same value parser as a flag,
//! and the environment is never modified. Every key of the file is checked
//! before anything starts, even those that a flag overrides: an unknown key,
//! a wrong type or a bad value fails naming the file and the key.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

/// The subcommands that take `--config`, with the variable naming the file.
/// The simulator has its own variable, so one environment can run both.
pub const CONFIGURABLE: &[(&str, &str)] = &[
    ("serve", "HYDROGEN_CONFIG"),
    ("dev", "HYDROGEN_CONFIG"),
    ("sim", "HYDROGEN_SIM_CONFIG"),
];

const CONFIG_ID: &str = "config";

/// Options whose flag takes a comma-separated list: the file may give an array.
const LIST_KEYS: &[&str] = &["master", "roles"];

/// The full command: `T`'s, with `--config` on the configurable subcommands.
pub fn command<T: CommandFactory>() -> Command {
    let mut cmd = T::command();
    for (name, env) in CONFIGURABLE {
        cmd = cmd.mut_subcommand(name, |sub| {
            sub.arg(
                Arg::new(CONFIG_ID)
                    .long("config")
                    .env(env)
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .action(ArgAction::Set)
                    .help(
                        "TOML file of options: keys are the long option names \
                         (`lease-ttl = \"2s\"`); flags and variables win over it",
                    ),
            )
        });
    }
    cmd
}

/// Parses the process's command line (exits with a message on error).
pub fn parse<T: CommandFactory + FromArgMatches>() -> T {
    match parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

/// Parses `args` (program name first), filling options from `--config`.
pub fn parse_from<T, I>(args: I) -> Result<T, clap::Error>
where
    T: CommandFactory + FromArgMatches,
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cmd = command::<T>();
    args.extend(file_args(&cmd, &args)?);
    let matches = cmd.try_get_matches_from(args)?;
    T::from_arg_matches(&matches)
}

/// The arguments the config file adds to `args`; none without a file.
fn file_args(cmd: &Command, args: &[OsString]) -> Result<Vec<OsString>, clap::Error> {
    // Errors and --help are left to the real parse, which reports them
    // against the real command.
    let Ok(matches) = relaxed(cmd.clone()).try_get_matches_from(args) else {
        return Ok(Vec::new());
    };
    let Some((name, sub_matches)) = matches.subcommand() else {
        return Ok(Vec::new());
    };
    if !CONFIGURABLE.iter().any(|(n, _)| *n == name) {
        return Ok(Vec::new());
    }
    let Ok(Some(path)) = sub_matches.try_get_one::<PathBuf>(CONFIG_ID) else {
        return Ok(Vec::new());
    };
    let Some(sub) = cmd.find_subcommand(name) else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(format!(
            "--config {}: cannot read the file: {e}",
            path.display()
        ))
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        invalid(format!(
            "config file {}: not valid TOML: {}",
            path.display(),
            e.to_string().trim_end()
        ))
    })?;
    let mut extra = Vec::new();
    for (key, value) in &table {
        let arg = option_for(cmd, sub, key).ok_or_else(|| {
            invalid(format!(
                "config file {}: unknown key `{key}`: keys are the long options of \
                 `hydrogen {name} --help` without the dashes ({})",
                path.display(),
                known_keys(cmd, sub).join(", ")
            ))
        })?;
        let wrong =
            |why: String| invalid(format!("config file {}: `{key}`: {why}", path.display()));
        let id = arg.get_id().as_str();
        let given =
            set_by_user(sub_matches, id) || (arg.is_global_set() && set_by_user(&matches, id));
        if arg.get_action().takes_values() {
            let text = value_text(arg, key, value).map_err(wrong)?;
            check_value(arg, key, &text).map_err(wrong)?;
            if !given {
                extra.push(OsString::from(format!("--{key}={text}")));
            }
        } else {
            match value {
                toml::Value::Boolean(true) if !given => {
                    extra.push(OsString::from(format!("--{key}")));
                }
                toml::Value::Boolean(_) => {}
                other => {
                    return Err(wrong(format!(
                        "expected true or false, found {}",
                        other.type_str()
                    )));
                }
            }
        }
    }
    Ok(extra)
}

/// `cmd` with every option of the configurable subcommands optional, so
/// that a required option may come from the file.
fn relaxed(mut cmd: Command) -> Command {
    for (name, _) in CONFIGURABLE {
        cmd = cmd.mut_subcommand(name, |mut sub| {
            let ids: Vec<_> = sub.get_arguments().map(|a| a.get_id().clone()).collect();
            for id in ids {
                sub = sub.mut_arg(id, |a| a.required(false));
            }
            sub
        });
    }
    cmd
}

fn set_by_user(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The option a file key names: a long option of the subcommand or a global
/// one of the top command, never `--config` itself, `--help` or `--version`.
fn option_for<'a>(cmd: &'a Command, sub: &'a Command, key: &str) -> Option<&'a Arg> {
    configurable_options(cmd, sub).find(|a| a.get_long() == Some(key))
}

fn configurable_options<'a>(cmd: &'a Command, sub: &'a Command) -> impl Iterator<Item = &'a Arg> {
    sub.get_arguments()
        .chain(cmd.get_arguments().filter(|a| a.is_global_set()))
        .filter(|a| {
            a.get_long().is_some()
                && a.get_id() != CONFIG_ID
                && !matches!(
                    a.get_action(),
                    ArgAction::Help
                        | ArgAction::HelpShort
                        | ArgAction::HelpLong
                        | ArgAction::Version
                )
        })
}

fn known_keys(cmd: &Command, sub: &Command) -> Vec<String> {
    configurable_options(cmd, sub)
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// The flag text of a file value: strings as they are, numbers printed,
/// arrays of strings comma-joined for list options, booleans for options
/// that take `true`/`false` (`executor-shell = false`).
fn value_text(arg: &Arg, key: &str, value: &toml::Value) -> Result<String, String> {
    let takes_bool = arg
        .get_possible_values()
        .iter()
        .any(|v| v.get_name() == "true");
    match value {
        toml::Value::Boolean(b) if takes_bool => Ok(b.to_string()),
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Array(items) if LIST_KEYS.contains(&key) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "expected an array of strings, found an array holding a {}",
                    other.type_str()
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(",")),
        other => Err(format!(
            "expected a string or a number, found {}",
            other.type_str()
        )),
    }
}

/// Runs `text` through the option's own value parser, as a flag would be.
fn check_value(arg: &Arg, key: &str, text: &str) -> Result<(), String> {
    // A one-option command, so that the check cannot trip over the rest of
    // the command line (required options, other options' variables).
    let probe = Command::new("hydrogen")
        .no_binary_name(true)
        .arg(arg.clone().required(false).global(false));
    probe
        .try_get_matches_from([OsString::from(format!("--{key}={text}"))])
        .map(drop)
        .map_err(|e| clap_reason(&e))
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_reason(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn invalid(message: String) -> clap::Error {
    clap::Error::raw(ErrorKind::InvalidValue, format!("{message}\n"))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::io::Write;
    use std::time::Duration;

    use super::*;
    use crate::{Cli, Command as Sub};

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    fn parse(args: &[&str]) -> Result<Cli, String> {
        parse_from::<Cli, _>(std::iter::once("hydrogen").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
    }

    fn serve(args: &[&str]) -> crate::ServeArgs {
        match parse(&[&["serve"], args].concat()) {
            Ok(Cli {
                command: Sub::Serve(a),
                ..
            }) => a,
            other => panic!("expected serve args, got {other:?}"),
        }
    }

    #[test]
    fn a_flag_beats_the_file_which_beats_the_default() {
        let f = file(
            r#"
            master = ["http://m1:5050", "http://m2:5050"]
            framework-name = "from-file"
            lease-ttl = "3s"
            event-log-capacity = 500
            backoff-factor = 1.5
            log-format = "json"
            "#,
        );
        let path = f.path().to_str().expect("utf-8 path");
        let args = serve(&["--config", path, "--lease-ttl", "4s"]);
        assert_eq!(args.master, "http://m1:5050,http://m2:5050");
        assert_eq!(args.scheduler.framework_name, "from-file");
        assert_eq!(args.lease_ttl.0, Duration::from_secs(4), "the flag wins");
        assert_eq!(args.event_log_capacity, 500);
        assert_eq!(args.scheduler.backoff_factor, 1.5);
        assert_eq!(
            args.lease_renew.0,
            Duration::from_millis(250),
            "default kept"
        );
        let cli = parse(&["serve", "--config", path]).expect("parses");
        assert_eq!(
            cli.log_format,
            crate::LogFormat::Json,
            "global options come from the file too"
        );
        let cli = parse(&["--log-format", "text", "serve", "--config", path]).expect("parses");
        assert_eq!(cli.log_format, crate::LogFormat::Text);
    }

    #[test]
    fn without_a_file_required_options_stay_required() {
        let err = parse(&["serve"]).expect_err("no master");
        assert!(err.contains("--master"), "{err}");
        let f = file("framework-name = \"x\"\n");
        let path = f.path().to_str().expect("utf-8 path");
        let err = parse(&["serve", "--config", path]).expect_err("no master in the file");
        assert!(err.contains("--master"), "{err}");
    }

    #[test]
    fn the_global_executor_comes_from_flags_variables_or_the_file() {
        // Not configured: apps without an executor use the command executor.
        let args = serve(&["--master", "http://m:5050"]);
        assert_eq!(args.scheduler.global_executor().expect("valid"), None);

        let f = file(
            r#"
            master = "http://m:5050"
            executor-cmd = "./hydrogen-executor --verbose"
            executor-uri = "http://repo/hydrogen-executor"
            executor-name = "from-file"
            executor-shell = false
            "#,
        );
        let path = f.path().to_str().expect("utf-8 path");
        let args = serve(&["--config", path, "--executor-name", "from-flag"]);
        let executor = args
            .scheduler
            .global_executor()
            .expect("valid")
            .expect("configured");
        assert_eq!(executor.cmd, "./hydrogen-executor --verbose");
        assert_eq!(executor.name.as_deref(), Some("from-flag"), "the flag wins");
        assert_eq!(executor.shell, Some(false));
        assert_eq!(executor.uris.len(), 1);
        assert_eq!(executor.uris[0].uri, "http://repo/hydrogen-executor");
        assert!(executor.uris[0].execute(), "the binary is made executable");
        let config = args
            .scheduler
            .scheduler_config(Vec::new())
            .expect("scheduler config");
        assert_eq!(config.launch_defaults.executor, Some(executor));

        // Parts of an executor without its command are refused at start.
        let args = serve(&["--master", "http://m:5050", "--executor-uri", "http://x/e"]);
        let err = args.scheduler.global_executor().expect_err("no cmd");
        assert!(err.to_string().contains("needs --executor-cmd"), "{err}");
        let args = serve(&["--master", "http://m:5050", "--executor-cmd", " "]);
        assert!(args.scheduler.global_executor().is_err());
        // A boolean option refuses other words, from a flag or the file.
        assert!(parse(&["serve", "--master", "m", "--executor-shell", "maybe"]).is_err());
        let f = file("executor-shell = \"maybe\"\n");
        let path = f.path().to_str().expect("utf-8 path");
        let err = parse(&["serve", "--master", "m", "--config", path]).expect_err("bad value");
        assert!(err.contains("`executor-shell`"), "{err}");
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_values_name_the_file_and_key() {
        let cases = [
            ("framework_name = \"x\"", "unknown key `framework_name`"),
            ("config = \"other.toml\"", "unknown key `config`"),
            ("help = true", "unknown key `help`"),
            ("lease-ttl = \"soon\"", "`lease-ttl`: invalid value 'soon'"),
            (
                "lease-ttl = true",
                "`lease-ttl`: expected a string or a number, found boolean",
            ),
            (
                "listen = \"localhost\"",
                "`listen`: invalid value 'localhost'",
            ),
            ("surge = 0", "`surge`: invalid value '0'"),
            (
                "min-ready-share = 2",
                "`min-ready-share`: invalid value '2'",
            ),
            (
                "role = [\"a\"]",
                "`role`: expected a string or a number, found array",
            ),
            ("master = [1]", "`master`: expected an array of strings"),
            (
                "mesos-encoding = \"xml\"",
                "`mesos-encoding`: invalid value 'xml'",
            ),
            ("[scheduler]\nrole = \"a\"", "unknown key `scheduler`"),
            ("role = ", "not valid TOML"),
        ];
        for (text, expected) in cases {
            let f = file(&format!("{text}\n"));
            let path = f.path().to_str().expect("utf-8 path");
            // Even a key a flag overrides must be valid.
            let err = parse(&[
                "serve",
                "--config",
                path,
                "--master",
                "http://m:5050",
                "--lease-ttl",
                "2s",
            ])
            .expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.contains(path), "{text}: names the file: {err}");
        }
    }

    #[test]
    fn commands_without_a_config_file_parse_as_before() {
        assert!(matches!(
            parse(&["app", "list"]),
            Ok(Cli {
                command: Sub::App(_),
                ..
            })
        ));
        assert!(parse(&["sim", "--agents", "2"]).is_ok());
        let err = parse(&["app", "--config", "x.toml", "list"]).expect_err("no --config");
        assert!(err.contains("--config"), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = parse(&["dev", "--config", "/nonexistent/hydrogen.toml"]).expect_err("missing");
        assert!(
            err.contains("--config /nonexistent/hydrogen.toml: cannot read"),
            "{err}"
        );
    }

    #[test]
    fn boolean_flags_and_other_subcommands() {
        let f = file("not-leading = true\nagents = 3\nallocation-interval = \"50ms\"\n");
        let path = f.path().to_str().expect("utf-8 path");
        match parse(&["sim", "--config", path]) {
            Ok(Cli {
                command: Sub::Sim(a),
                ..
            }) => {
                assert!(a.not_leading);
                assert_eq!(a.agents, 3);
                assert_eq!(a.allocation_interval.0, Duration::from_millis(50));
            }
            other => panic!("{other:?}"),
        }
        let f = file("task-start-delay = \"5y\"\n");
        let path = f.path().to_str().expect("utf-8 path");
        let err = parse(&["sim", "--config", path]).expect_err("a bad duration");
        assert!(
            err.contains("`task-start-delay`: invalid value '5y'"),
            "{err}"
        );
        let f = file("not-leading = \"yes\"\n");
        let path = f.path().to_str().expect("utf-8 path");
        let err = parse(&["sim", "--config", path]).expect_err("a string for a flag");
        assert!(
            err.contains("`not-leading`: expected true or false, found string"),
            "{err}"
        );
        // A serve-only key in a dev file.
        let f = file("master = \"http://m:5050\"\n");
        let path = f.path().to_str().expect("utf-8 path");
        let err = parse(&["dev", "--config", path]).expect_err("dev has no --master");
        assert!(err.contains("unknown key `master`"), "{err}");
    }

    #[test]
    fn the_example_file_configures_serve() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hydrogen.toml");
        let args = serve(&["--config", path]);
        assert_eq!(
            args.master,
            "http://mesos-1:5050,http://mesos-2:5050,http://mesos-3:5050"
        );
        assert_eq!(args.listen.to_string(), "0.0.0.0:8080");
        assert!(args.scheduler.scheduler_config(Vec::new()).is_ok());
    }

    /// Every option of every subcommand explains itself, and every option of
    /// the server commands is also a variable (`HYDROGEN_SIM_*` for the
    /// simulator), as the README promises.
    #[test]
    fn every_option_has_help_and_server_options_have_a_variable() {
        let mut cmd = command::<Cli>();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "hydrogen", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    fn walk(cmd: &Command, path: &str, missing: &mut Vec<String>) {
        let top = path.split(' ').nth(1).unwrap_or_default();
        let env_prefix = match top {
            "serve" | "dev" => Some("HYDROGEN_"),
            "sim" => Some("HYDROGEN_SIM_"),
            _ => None,
        };
        for arg in cmd.get_arguments() {
            if matches!(
                arg.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            ) {
                continue;
            }
            let name = arg.get_long().unwrap_or(arg.get_id().as_str());
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path} --{name}: no help"));
            }
            let env = arg.get_env().and_then(OsStr::to_str);
            // Global options (--log-format) are the same for every subcommand.
            let prefix = if arg.is_global_set() {
                env_prefix.map(|_| "HYDROGEN_")
            } else {
                env_prefix
            };
            if let Some(prefix) = prefix
                && !env.is_some_and(|e| e.starts_with(prefix))
            {
                missing.push(format!("{path} --{name}: no {prefix}* variable ({env:?})"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(format!("{path} {}: no description", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    /// The README's configuration table is the `serve` and `dev` options,
    /// with their variables and defaults.
    #[test]
    fn the_readme_reference_matches_the_options() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has a Configuration section");
        let mut documented = std::collections::BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("| `--")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let flag = cells[1]
                .trim_matches('`')
                .trim_start_matches("--")
                .to_string();
            let row = (
                cells[2].trim_matches('`').to_string(),
                cells[4].trim_matches('`').to_string(),
                cells[5].to_string(),
            );
            documented.insert(flag, row);
        }
        let mut cmd = command::<Cli>();
        cmd.build();
        let mut expected = std::collections::BTreeMap::new();
        for sub in ["serve", "dev"] {
            let sub_cmd = cmd.find_subcommand(sub).expect("subcommand");
            for arg in configurable_options(&cmd, sub_cmd)
                .chain(sub_cmd.get_arguments().filter(|a| a.get_id() == CONFIG_ID))
            {
                let Some(long) = arg.get_long() else { continue };
                let env = arg
                    .get_env()
                    .and_then(OsStr::to_str)
                    .unwrap_or_default()
                    .to_string();
                let default = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",");
                let entry =
                    expected
                        .entry(long.to_string())
                        .or_insert((env, default, sub.to_string()));
                if entry.2 != sub {
                    entry.2 = "both".into();
                }
            }
        }
        assert_eq!(documented, expected);
    }

    #[test]
    fn the_app_client_reads_its_server_and_token_from_variables() {
        let cmd = command::<Cli>();
        let app = cmd.find_subcommand("app").expect("app subcommand");
        let env = |long: &str| {
            app.get_arguments()
                .find(|a| a.get_long() == Some(long))
                .and_then(|a| a.get_env())
                .and_then(OsStr::to_str)
                .map(str::to_string)
        };
        assert_eq!(env("server").as_deref(), Some("HYDROGEN_SERVER"));
        assert_eq!(env("token").as_deref(), Some("HYDROGEN_API_TOKEN"));
    }
}
