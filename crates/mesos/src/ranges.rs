//! Mesos `Value.Ranges` (inclusive `[begin, end]` pairs, as ports are
//! offered) in canonical form. Both sides of the wire need it: the
//! scheduler merges an offer's port ranges before placing, the simulated
//! master keeps every agent's ranges merged as the real one does.

/// Sorts `ranges` and merges the overlapping or adjacent ones; drops
/// empty ones (`begin > end`), which Mesos never offers.
pub fn merge(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|(b, e)| b <= e);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (b, e) in ranges {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_and_adjacent_ranges_become_one_and_empty_ones_go() {
        let merged = merge(vec![
            (31005, 31010),
            (31000, 31004),
            (9, 3),
            (40000, 40000),
            (31008, 31020),
        ]);
        assert_eq!(merged, vec![(31000, 31020), (40000, 40000)]);
        assert_eq!(merge(vec![(0, u64::MAX), (5, 6)]), vec![(0, u64::MAX)]);
    }
}
