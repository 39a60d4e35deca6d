//! Helpers shared by the browser node's tests: a tiny HTTP GET, an RFB greeting read, and a
//! look at `/proc` to prove no process is left behind.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bound on every network wait in these tests (only to stop a hang).
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// GETs `path` from `http://addr` and returns the whole response (head and body). Reads
/// exactly `Content-Length` bytes of body: Chromium keeps the connection open.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tokio::time::timeout(IO_TIMEOUT, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            response.extend_from_slice(&chunk[..n]);
            if n == 0 || body_complete(&response) {
                break;
            }
        }
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .expect("HTTP GET timed out")
}

fn body_complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    length.is_some_and(|length| body.len() >= length)
}

/// Connects to an RFB server and reads its 12-byte ProtocolVersion greeting.
pub async fn rfb_greeting(addr: SocketAddr) -> Vec<u8> {
    tokio::time::timeout(IO_TIMEOUT, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut greeting = vec![0_u8; 12];
        stream.read_exact(&mut greeting).await.expect("read");
        greeting
    })
    .await
    .expect("RFB greeting timed out")
}

/// The live (non-zombie) processes whose process group is `pgid`, or whose pid is `pgid`.
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after the parenthesised command: state, ppid, pgrp, ...
            let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let live = fields.first().is_some_and(|state| *state != "Z");
            live && (*pid == pgid || fields.get(2) == Some(&pgid.to_string().as_str()))
        })
        .collect()
}

/// Waits (bounded) until no live process of group `pgid` remains; returns what is left.
pub fn wait_group_gone(pgid: u32) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = live_group_members(pgid);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `/proc/<pid>` exists as a live (non-zombie) process.
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}
