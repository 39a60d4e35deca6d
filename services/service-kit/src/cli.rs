//! Command-line helpers every binary shares: parsing with the usage-error exit code
//! (sysexits' `EX_USAGE`, 64) and the duration flag syntax (`250ms`, `20s`, `2m`).

use std::process::ExitCode;
use std::time::Duration;

/// The exit code of a usage error (sysexits' `EX_USAGE`).
pub const EX_USAGE: u8 = 64;

/// Parses the process's arguments and environment into `P`. On failure the error is printed
/// (to stderr for a usage error, to stdout for `--help`/`--version`) and the exit code to
/// return is given: 64 for a usage error, 0 for help or version output.
pub fn parse_or_exit<P: clap::Parser>() -> Result<P, ExitCode> {
    P::try_parse().map_err(|error| {
        let code = if error.use_stderr() { EX_USAGE } else { 0 };
        let _ = error.print();
        ExitCode::from(code)
    })
}

/// `250ms`, `20s`, `2m`, or a bare number of seconds; never zero.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {raw:?}"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        _ => return Err(format!("invalid duration unit in {raw:?} (use ms, s or m)")),
    };
    if duration.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_bare_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 20s "), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn zero_unknown_units_and_non_numbers_are_refused() {
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn huge_minute_counts_saturate_instead_of_overflowing() {
        let huge = format!("{}m", u64::MAX);
        assert_eq!(parse_duration(&huge), Ok(Duration::from_secs(u64::MAX)));
    }
}
