//! The ready line of the operator interface: once a listener is bound, the binary prints
//! exactly `listening on <ip:port>` (or `<label> listening on <ip:port>` for a second
//! listener) on stdout and flushes it, so scripts and tests can read the bound port.

use std::io::Write;
use std::net::SocketAddr;

/// Prints the ready line for the main listener.
pub fn announce(addr: SocketAddr) {
    print_line(&format!("listening on {addr}"));
}

/// Prints the ready line for a second listener, e.g. `grpc listening on 127.0.0.1:8081`.
pub fn announce_labelled(label: &str, addr: SocketAddr) {
    print_line(&format!("{label} listening on {addr}"));
}

fn print_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (the parent stopped reading) must not stop the service.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}
