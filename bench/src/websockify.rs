//! The incumbent's relay: a real `websockify` process (Debian's, forking one child process
//! per connection) on a free port, targeting the synthetic server; and the memory of a
//! process tree read from `/proc` (RSS, and PSS, which splits pages shared by forked
//! children fairly instead of counting them once per process).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// Bound on websockify's start-up.
const START_WAIT: Duration = Duration::from_secs(30);

/// A running websockify.
pub struct Websockify {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Websockify {
    /// Starts `program` listening on a free loopback port and waits until it accepts.
    pub async fn spawn(program: &str, target: SocketAddr) -> anyhow::Result<Self> {
        // websockify cannot report a port it picked itself: take a free one and hand it over.
        let addr = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
        let child = Command::new(program)
            .arg(addr.to_string())
            .arg(target.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let started = tokio::time::Instant::now();
        // Polling the port is the only readiness signal websockify gives.
        while TcpStream::connect(addr).await.is_err() {
            if started.elapsed() > START_WAIT {
                bail!("{program} did not accept on {addr} in time");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { child, addr })
    }

    /// `ws://addr/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The main process id (its per-connection children are found through `/proc`).
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("websockify exited")
    }
}

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
    pids.into_iter()
        .map(|pid| Memory {
            rss_kib: kib_field(&format!("/proc/{pid}/status"), "VmRSS:"),
            pss_kib: kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:"),
            processes: 1,
        })
        .fold(Memory::default(), |a, b| a + b)
}

/// (pid, parent pid) of every process.
fn parent_table() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parentheses: fields follow the last ')'.
            let after = &stat[stat.rfind(')')? + 1..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// A `Name:   123 kB` field of a /proc file; 0 when absent (a process that just exited).
fn kib_field(path: &str, name: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
