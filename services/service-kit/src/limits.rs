//! The open-files limit. Every socket is a descriptor, and a replica meant to hold 10,000
//! viewer pairs needs about three per pair (two frontend sockets and the upstream dial), far
//! above the usual soft limit of 1,024. Raising the soft limit to the hard one is what the
//! kernel allows any process; the hard limit is the operator's (or the container runtime's).

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The open-files limit after [`raise_open_files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit, the ceiling the soft one was raised to.
    pub hard: u64,
}

/// Raises this process's soft open-files limit to its hard limit and returns both. When the
/// limit cannot be read or changed, the error says why and the process keeps what it had.
pub fn raise_open_files() -> Result<OpenFiles, nix::Error> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(OpenFiles { soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let raised = raise_open_files().expect("getrlimit and setrlimit work for any process");
        assert_eq!(raised.soft, raised.hard);
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!((soft, hard), (raised.soft, raised.hard));
    }
}
