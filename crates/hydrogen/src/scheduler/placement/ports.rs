//! Host ports: the offer's `ports` ranges, merged, and the ports taken out
//! of them one by one (see "Ports" in the module above).

/// Lowest and highest host port handed out.
pub(super) const PORT_MIN: u64 = 1;

pub(super) const PORT_MAX: u64 = 65_535;

pub(super) use crate::mesos::ranges::merge;

/// Removes `port` from sorted, disjoint `ranges`; false if absent.
pub(super) fn take_port(ranges: &mut Vec<(u64, u64)>, port: u64) -> bool {
    let Some(i) = ranges.iter().position(|&(b, e)| b <= port && port <= e) else {
        return false;
    };
    let (b, e) = ranges[i];
    match (port == b, port == e) {
        (true, true) => {
            ranges.remove(i);
        }
        (true, false) => ranges[i].0 = port + 1,
        (false, true) => ranges[i].1 = port - 1,
        (false, false) => {
            ranges[i].1 = port - 1;
            ranges.insert(i + 1, (port + 1, e));
        }
    }
    true
}

/// Sorts and merges `ranges[start..]`, so an entry's ranges read as Mesos
/// writes them (fixed ports taken before dynamic ones may interleave).
pub(super) fn merge_tail(ranges: &mut Vec<(u64, u64)>, start: usize) {
    ranges[start..].sort_unstable();
    let mut write = start;
    for read in start..ranges.len() {
        let (b, e) = ranges[read];
        if write > start && ranges[write - 1].1.saturating_add(1) >= b {
            ranges[write - 1].1 = ranges[write - 1].1.max(e);
        } else {
            ranges[write] = (b, e);
            write += 1;
        }
    }
    ranges.truncate(write);
}
