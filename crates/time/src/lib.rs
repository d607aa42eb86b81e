//! Time as Hydrogen's crates share it: the wall clock in milliseconds
//! (records written by different instances, ordered for humans), and the
//! one duration syntax every `hydrogen` subcommand, the config file and the
//! simulator's admin API read and write (`250ms`, `1.5s`, `2m`, `7d`).
//! Its own crate because the product, the simulator and the tooling all
//! need it and none of them may depend on another for it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (wall clock, for humans and ordering of
/// records written by different instances).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Parses `250ms`, `1s`, `1.5s`, `2m`, `1h`, `10us`, `5ns`, or a bare number
/// of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 250ms, 1s, 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "ns" => value / 1e9,
        "m" | "min" | "mins" => value * 60.0,
        "h" | "hr" | "hrs" => value * 3600.0,
        "d" | "days" => value * 86400.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use ns, us, ms, s, m, h, d)"
            ));
        }
    };
    if !seconds.is_finite() || seconds > 1e10 {
        return Err(format!("{text:?} is too long"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A duration option of any `hydrogen` subcommand: parsed by
/// [`parse_duration`] while the command line is (so a bad value fails
/// naming the flag, or the config file key), and shown by `--help` as
/// [`format_duration`] writes it, so a default is the constant the code
/// uses rather than a second spelling of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumaneDuration(pub Duration);

impl std::str::FromStr for HumaneDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_duration(text).map(Self)
    }
}

impl std::fmt::Display for HumaneDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// `d` in the largest unit that writes it exactly (`7d`, `15m`, `1500ms`),
/// so that [`parse_duration`] reads back the same duration.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        let secs = d.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if secs > 0 && secs % size == 0 {
                return format!("{}{unit}", secs / size);
            }
        }
        return format!("{secs}s");
    }
    let nanos = d.as_nanos();
    if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formatted_duration_reads_back_the_same() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(7 * 86_400), "7d"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(15 * 60), "15m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_nanos(7), "7ns"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d), "{text}");
            assert_eq!(text.parse::<HumaneDuration>(), Ok(HumaneDuration(d)));
        }
        assert!("soon".parse::<HumaneDuration>().is_err());
    }
}
