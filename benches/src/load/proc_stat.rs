//! What a process cost: its CPU time and its peak resident set (`VmHWM` of
//! `/proc/PID/status`).
//!
//! CPU time is read in nanoseconds from `/proc/PID/task/*/schedstat` (the first field, the
//! time each thread has run, summed over the threads alive now), or, where the kernel has no
//! schedstat, from `utime + stime` of `/proc/PID/stat` in clock ticks. The nanosecond count
//! leaves out threads that have exited; the ticks include them but are 10 ms coarse.

use std::io;
use std::time::Duration;

/// The kernel's clock ticks per second for `/proc` times (`USER_HZ`), 100 on every Linux
/// architecture the benchmark runs on.
const TICKS_PER_SECOND: u64 = 100;

/// Why a process's numbers could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcStatError {
    /// The `/proc` file could not be read (the process has exited?).
    #[error("cannot read {path}: {source}; has the process exited?")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The file did not have the expected shape.
    #[error("{path} has no {field} field in the expected place; is this Linux?")]
    Parse {
        /// The file.
        path: String,
        /// The field looked for.
        field: &'static str,
    },
}

/// The CPU time (user + system) process `pid` has used so far: in nanoseconds from schedstat
/// where the kernel has it, else in clock ticks.
pub fn cpu_time(pid: u32) -> Result<Duration, ProcStatError> {
    match schedstat_cpu_time(pid)? {
        Some(time) => Ok(time),
        None => ticks_cpu_time(pid),
    }
}

/// The run time of `pid`'s live threads from `/proc/PID/task/*/schedstat`, or `None` if the
/// kernel has no schedstat. A thread that exits while being read is skipped.
fn schedstat_cpu_time(pid: u32) -> Result<Option<Duration>, ProcStatError> {
    let tasks = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&tasks).map_err(|source| ProcStatError::Read {
        path: tasks.clone(),
        source,
    })?;
    let mut nanos = 0u64;
    let mut found = false;
    for entry in entries {
        let entry = entry.map_err(|source| ProcStatError::Read {
            path: tasks.clone(),
            source,
        })?;
        let path = entry.path().join("schedstat");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ProcStatError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let run = parse_schedstat_nanos(&text).ok_or(ProcStatError::Parse {
            path: path.display().to_string(),
            field: "run time",
        })?;
        nanos = nanos.saturating_add(run);
        found = true;
    }
    Ok(found.then(|| Duration::from_nanos(nanos)))
}

/// `utime + stime` of `/proc/PID/stat`, all threads (exited ones included), in ticks.
fn ticks_cpu_time(pid: u32) -> Result<Duration, ProcStatError> {
    let path = format!("/proc/{pid}/stat");
    let text = read(&path)?;
    let ticks = parse_cpu_ticks(&text).ok_or(ProcStatError::Parse {
        path,
        field: "utime/stime",
    })?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// The peak resident set size of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64, ProcStatError> {
    let path = format!("/proc/{pid}/status");
    let text = read(&path)?;
    parse_vm_hwm(&text).ok_or(ProcStatError::Parse {
        path,
        field: "VmHWM",
    })
}

fn read(path: &str) -> Result<String, ProcStatError> {
    std::fs::read_to_string(path).map_err(|source| ProcStatError::Read {
        path: path.to_string(),
        source,
    })
}

/// `utime + stime` in ticks. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from the last `)`: after it come field 3 (state) onwards, and utime and
/// stime are fields 14 and 15.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The first field of a `schedstat` line (`run_ns wait_ns timeslices`): nanoseconds run.
fn parse_schedstat_nanos(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// The `VmHWM:   1234 kB` line's number.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 70 0 0 20 0 3 0 100 1000 200 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(320));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn peak_rss_comes_from_vm_hwm() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(5120));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn schedstat_run_time_is_the_first_field() {
        assert_eq!(
            parse_schedstat_nanos("22784970 1768325 58\n"),
            Some(22_784_970)
        );
        assert_eq!(parse_schedstat_nanos(""), None);
        assert_eq!(parse_schedstat_nanos("x 1 2"), None);
    }

    /// Spins until the measured CPU time has grown by 20 ms: on a loaded machine the spinning
    /// thread may get little CPU, so the wall-clock limit is generous.
    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let before = cpu_time(me).unwrap();
        let limit = std::time::Instant::now() + Duration::from_secs(5);
        let mut x = 0u64;
        let grown = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let now = cpu_time(me).unwrap();
            if now >= before + Duration::from_millis(20) {
                break true;
            }
            if std::time::Instant::now() > limit {
                break false;
            }
        };
        assert!(grown, "CPU time grew by less than 20 ms in 5 s of spinning");
        assert!(ticks_cpu_time(me).unwrap() > Duration::ZERO);
        assert!(peak_rss_kib(me).unwrap() > 0);
    }
}
