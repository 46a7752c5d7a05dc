//! The process's peak memory, for the benchmarks' reports (Linux `/proc`).
#![allow(dead_code)]

/// Peak resident set size since start (or since [`reset_peak`]), in KiB; 0 where unknown.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak to the current size (Linux: `5` into `clear_refs`), so one run is measured.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
