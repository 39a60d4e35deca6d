//! What `/proc` says of a relay's process tree: memory (RSS, and PSS, which splits pages
//! shared by forked children fairly instead of counting them once per process) and CPU time
//! (user and sys) with minor page faults, summed over a process and its descendants.

use std::time::Duration;

/// Memory of a set of processes, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Sum of resident set sizes.
    pub rss_kib: u64,
    /// Sum of proportional set sizes.
    pub pss_kib: u64,
    /// How many processes were counted.
    pub processes: usize,
}

impl std::ops::Add for Memory {
    type Output = Memory;
    fn add(self, other: Memory) -> Memory {
        Memory {
            rss_kib: self.rss_kib + other.rss_kib,
            pss_kib: self.pss_kib + other.pss_kib,
            processes: self.processes + other.processes,
        }
    }
}

/// Memory of `root` and all its descendants.
pub fn tree_memory(root: u32) -> Memory {
    descendants(root)
        .into_iter()
        .map(|pid| Memory {
            rss_kib: number_field(&format!("/proc/{pid}/status"), "VmRSS:"),
            pss_kib: number_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:"),
            processes: 1,
        })
        .fold(Memory::default(), |a, b| a + b)
}

/// Threads of process `pid` (0 when it has exited).
pub fn threads(pid: u32) -> u64 {
    number_field(&format!("/proc/{pid}/status"), "Threads:")
}

/// CPU time and minor page faults of a set of processes, since each started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// User time.
    pub user: Duration,
    /// System (kernel) time.
    pub sys: Duration,
    /// Minor page faults (a page the kernel had to map in, and zero when fresh).
    pub minor_faults: u64,
}

impl Cpu {
    /// What was spent between `before` and `self` (a process that exited meanwhile makes a
    /// field go down: it saturates at zero).
    pub fn since(self, before: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(before.user),
            sys: self.sys.saturating_sub(before.sys),
            minor_faults: self.minor_faults.saturating_sub(before.minor_faults),
        }
    }
}

impl std::ops::Add for Cpu {
    type Output = Cpu;
    fn add(self, other: Cpu) -> Cpu {
        Cpu {
            user: self.user + other.user,
            sys: self.sys + other.sys,
            minor_faults: self.minor_faults + other.minor_faults,
        }
    }
}

/// CPU time of `root` and all its descendants (every thread of each).
pub fn tree_cpu(root: u32) -> Cpu {
    let ticks = clock_ticks();
    descendants(root)
        .into_iter()
        .filter_map(|pid| {
            let fields = stat_fields(pid)?;
            // After the command name: state ppid pgrp session tty tpgid flags minflt cminflt
            // majflt cmajflt utime stime …
            let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
            Some(Cpu {
                minor_faults: number(7)?,
                user: Duration::from_secs_f64(number(11)? as f64 / ticks),
                sys: Duration::from_secs_f64(number(12)? as f64 / ticks),
            })
        })
        .fold(Cpu::default(), |a, b| a + b)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on every Linux here).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and
/// parentheses: fields follow the last ')').
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// `root` and every process below it.
fn descendants(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    let parents = parent_table();
    let mut i = 0;
    while i < pids.len() {
        let parent = pids[i];
        pids.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    pids
}

/// (pid, parent pid) of every process.
fn parent_table() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat_fields(pid)?.get(1)?.parse().ok()?)))
        .collect()
}

/// The number of a `Name:   123 kB` (or `Name: 123`) field of a /proc file; 0 when absent (a
/// process that just exited).
fn number_field(path: &str, name: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
