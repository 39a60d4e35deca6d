//! Command-line helpers every binary shares: `serve` as the default subcommand
//! ([`ServeByDefault`]), parsing with the usage-error exit code (sysexits' `EX_USAGE`, 64) and
//! the duration flag syntax (`250ms`, `20s`, `2m`).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

/// `<binary> [serve] FLAGS` or `<binary> <other subcommand>` (PROTOCOL §8: `serve` is the
/// default). A binary's `Cli` flattens this with its serve flags `C` and its other
/// subcommands `X`.
#[derive(Debug, Args)]
pub struct ServeByDefault<C: Args, X: Subcommand = NoOtherCommand> {
    /// What to do (default: serve).
    #[command(subcommand)]
    command: Option<ServeOr<C, X>>,
    /// The serve flags, when no subcommand is given.
    #[command(flatten)]
    serve: C,
}

/// `serve`, or one of the binary's other subcommands.
#[derive(Debug, Subcommand)]
pub enum ServeOr<C: Args, X: Subcommand> {
    /// Serve (the default).
    Serve(C),
    /// Another subcommand of the binary.
    #[command(flatten)]
    Other(X),
}

/// The other subcommands of a binary that only serves.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum NoOtherCommand {}

impl<C: Args, X: Subcommand> ServeByDefault<C, X> {
    /// What was asked: the serve flags (given with or without `serve`) or another subcommand.
    pub fn into_command(self) -> ServeOr<C, X> {
        self.command.unwrap_or(ServeOr::Serve(self.serve))
    }
}

impl<C: Args> ServeByDefault<C, NoOtherCommand> {
    /// The serve flags of a binary that only serves.
    pub fn into_serve(self) -> C {
        match self.into_command() {
            ServeOr::Serve(config) => config,
            ServeOr::Other(never) => match never {},
        }
    }
}

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

/// `250ms`, `20s`, `2m`, `1.5s`, or a bare number of seconds; never zero.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(raw)?;
    if duration.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(duration)
}

/// The same syntax as [`parse_duration`], zero included: for flags where zero means "off"
/// (the gateway's `--auth-cache-ttl 0` disables the cache).
pub fn parse_duration_or_zero(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let invalid = || format!("invalid duration {raw:?}");
    if !matches!(unit, "ms" | "s" | "m") {
        return Err(format!("invalid duration unit in {raw:?} (use ms, s or m)"));
    }
    if number.contains('.') {
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let seconds = match unit {
            "ms" => value / 1000.0,
            "m" => value * 60.0,
            _ => value,
        };
        return Duration::try_from_secs_f64(seconds).map_err(|_| invalid());
    }
    let value: u64 = number.parse().map_err(|_| invalid())?;
    Ok(match unit {
        "ms" => Duration::from_millis(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        _ => Duration::from_secs(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Args)]
    struct Flags {
        #[arg(long, default_value = "127.0.0.1:1")]
        listen: String,
    }

    #[derive(Debug, Subcommand)]
    enum Extra {
        /// Something else.
        Admin { name: String },
    }

    #[derive(Debug, Parser)]
    #[command(name = "demo")]
    struct Demo {
        #[command(flatten)]
        args: ServeByDefault<Flags, Extra>,
    }

    #[derive(Debug, Parser)]
    #[command(name = "serves-only")]
    struct ServesOnly {
        #[command(flatten)]
        args: ServeByDefault<Flags>,
    }

    fn parse(args: &[&str]) -> Result<ServeOr<Flags, Extra>, clap::Error> {
        Ok(Demo::try_parse_from(args)?.args.into_command())
    }

    #[test]
    fn serve_flags_parse_with_or_without_the_subcommand() {
        for args in [
            &["demo", "--listen", "0.0.0.0:9"][..],
            &["demo", "serve", "--listen", "0.0.0.0:9"][..],
        ] {
            assert!(
                matches!(parse(args), Ok(ServeOr::Serve(f)) if f.listen == "0.0.0.0:9"),
                "{args:?}"
            );
        }
        assert!(matches!(parse(&["demo"]), Ok(ServeOr::Serve(f)) if f.listen == "127.0.0.1:1"));
        let only = ServesOnly::try_parse_from(["serves-only", "serve", "--listen", "x"]).unwrap();
        assert_eq!(only.args.into_serve().listen, "x");
    }

    #[test]
    fn other_subcommands_parse_and_unknown_ones_are_usage_errors() {
        assert!(matches!(
            parse(&["demo", "admin", "n"]),
            Ok(ServeOr::Other(Extra::Admin { name })) if name == "n"
        ));
        let error = parse(&["demo", "nope"]).unwrap_err();
        assert!(error.use_stderr());
        assert!(ServesOnly::try_parse_from(["serves-only", "admin", "n"]).is_err());
    }

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

    #[test]
    fn fractions_are_accepted_and_zero_only_where_it_means_off() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.25m"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration_or_zero("0"), Ok(Duration::ZERO));
        assert!(parse_duration_or_zero("1.2.3s").is_err());
        assert!(parse_duration_or_zero("-1s").is_err());
    }
}
