//! CPU time, resident memory and start time of a process, read from Linux's `/proc`.

use std::fs;

/// What `/metrics` reports of a process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub resident_bytes: u64,
    /// Start time, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

/// Clock ticks per second of `/proc/PID/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
/// The page size `/proc/PID/statm` counts in (4 KiB on the platforms mlspec supports).
const PAGE_BYTES: u64 = 4096;

/// The stats of process `pid` (`self` for this one), or `None` when it is gone or `/proc` is
/// not there.
pub fn stats(pid: &str) -> Option<ProcessStats> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // After the name: state is field 3 (index 0 here); utime 14, stime 15, starttime 22.
    let cpu_seconds = (ticks(11)? + ticks(12)?) / TICKS_PER_SECOND;
    let started_after_boot = ticks(19)? / TICKS_PER_SECOND;
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(ProcessStats {
        cpu_seconds,
        resident_bytes: resident_pages * PAGE_BYTES,
        start_time_seconds: boot_time().unwrap_or_default() + started_after_boot,
    })
}

fn boot_time() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|t| t.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let own = stats("self").unwrap();
        assert!(own.resident_bytes > 0);
        let now = chrono::Utc::now().timestamp() as f64;
        assert!(
            own.start_time_seconds > now - 3600.0 && own.start_time_seconds <= now + 1.0,
            "{own:?}"
        );
        assert!(stats("999999999").is_none());
    }
}
