//! Process figures from `/proc` (Linux): CPU time of the whole process and
//! of the threads whose name starts with a prefix, resident set size and
//! its peak. Elsewhere every figure reads as zero.

use std::fs;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`: 100 on every
/// Linux architecture the kernel exposes to user space).
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a `stat` line, in seconds, and the thread name.
fn parse_stat(text: &str) -> Option<(String, f64)> {
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so split
    // at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the comm: state is field 3, utime field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / TICKS_PER_SECOND))
}

/// CPU seconds (user + system) of the whole process, dead threads included.
pub fn process_cpu_seconds() -> f64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_stat(&t))
        .map_or(0.0, |(_, s)| s)
}

/// CPU seconds of the live threads whose name starts with `prefix`.
pub fn threads_cpu_seconds(prefix: &str) -> f64 {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|t| parse_stat(&t))
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, s)| s)
        .sum()
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_kb(key: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resident set size now (VmRSS), bytes.
pub fn rss_bytes() -> u64 {
    status_kb("VmRSS:")
}

/// Peak resident set size (VmHWM), bytes.
pub fn peak_rss_bytes() -> u64 {
    status_kb("VmHWM:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_name() {
        let line = "123 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        let (name, secs) = parse_stat(line).expect("parses");
        assert_eq!(name, "a (b) c");
        assert!((secs - 3.0).abs() < 1e-9);
    }

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(rss_bytes() > 0);
            assert!(peak_rss_bytes() >= rss_bytes() / 2);
        }
    }
}
