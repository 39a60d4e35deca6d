//! The `browser-node` command line. Every flag has an env var `BROWSER_NODE_<FLAG>`. Tests
//! build [`ServeArgs`] with `Cli::try_parse_from`, never through the process environment.

use std::time::Duration;

use clap::{Args, Parser};
use service_kit::cli::ServeByDefault;

use crate::NodeOptions;

/// The duration flag syntax (`250ms`, `20s`, `2m`, bare seconds; never zero).
pub use service_kit::cli::parse_duration;

/// The browser-node binary: a local supervisor of one live browser session.
#[derive(Debug, Parser)]
#[command(
    name = "browser-node",
    version,
    about = "browser-stream browser node: Xvfb + Chromium + x11vnc (or headless Chromium), supervised"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `serve` (the default: start the node, register it, print its addresses, and watch it)
    /// and its flags.
    #[command(flatten)]
    pub args: ServeByDefault<ServeArgs>,
}

impl Cli {
    /// The serve flags, whichever way they were given.
    pub fn into_serve_args(self) -> ServeArgs {
        self.args.into_serve()
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Screen and window width in pixels.
    #[arg(long, env = "BROWSER_NODE_WIDTH", default_value_t = 1280, value_parser = clap::value_parser!(u32).range(64..=7680))]
    pub width: u32,
    /// Screen and window height in pixels.
    #[arg(long, env = "BROWSER_NODE_HEIGHT", default_value_t = 800, value_parser = clap::value_parser!(u32).range(64..=4320))]
    pub height: u32,
    /// The page Chromium opens at start.
    #[arg(long, env = "BROWSER_NODE_START_URL", default_value = "about:blank")]
    pub start_url: String,
    /// Verification's database, to register the node as a running browser session
    /// (`sqlite://…` or `postgres://…`). Needs `--org`.
    #[arg(long, env = "BROWSER_NODE_DATABASE_URL", requires = "org")]
    pub database_url: Option<String>,
    /// The organization that owns the registered browser session. Needs `--database-url`.
    #[arg(long, env = "BROWSER_NODE_ORG", requires = "database_url")]
    pub org: Option<String>,
    /// The registered session's lifetime in minutes from start or last activity (unset: only
    /// the 14,400 s cap).
    #[arg(long, env = "BROWSER_NODE_TIMEOUT_MINUTES")]
    pub timeout_minutes: Option<i64>,
    /// How long each part (Xvfb, Chromium, x11vnc) may take to start (e.g. `20s`, `500ms`).
    #[arg(long, env = "BROWSER_NODE_STARTUP_TIMEOUT", value_parser = parse_duration, default_value = "20s")]
    pub startup_timeout: Duration,
    /// Chromium's DevTools port on 127.0.0.1 (0: any free port).
    #[arg(long, env = "BROWSER_NODE_REMOTE_DEBUGGING_PORT", default_value_t = 0)]
    pub remote_debugging_port: u16,
    /// x11vnc's port on 127.0.0.1 (unset: any free port).
    #[arg(long, env = "BROWSER_NODE_VNC_PORT")]
    pub vnc_port: Option<u16>,
    /// The `vnc_url` to register instead of the local `tcp://127.0.0.1:PORT` (e.g. a
    /// websockify sidecar's `ws://POD_IP:6080` on Kubernetes).
    #[arg(long, env = "BROWSER_NODE_ADVERTISE_VNC_URL")]
    pub advertise_vnc_url: Option<String>,
    /// The `cdp_url` to register instead of the local `http://127.0.0.1:PORT`.
    #[arg(long, env = "BROWSER_NODE_ADVERTISE_CDP_URL")]
    pub advertise_cdp_url: Option<String>,
    /// Show Chromium's toolbar instead of filling the screen with the page (kiosk mode).
    #[arg(long, env = "BROWSER_NODE_SHOW_TOOLBAR")]
    pub show_toolbar: bool,
    /// Run Chromium headless, with no Xvfb and no x11vnc: the session is registered with its
    /// `cdp_url` only, and viewers watch it through the gateway's CDP screencast.
    #[arg(long, env = "BROWSER_NODE_HEADLESS", conflicts_with_all = ["vnc_port", "advertise_vnc_url", "show_toolbar"])]
    pub headless: bool,
    /// An extra Chromium flag (repeatable).
    #[arg(
        long = "chromium-arg",
        env = "BROWSER_NODE_CHROMIUM_ARGS",
        value_delimiter = ' ',
        allow_hyphen_values = true
    )]
    pub chromium_args: Vec<String>,
}

impl ServeArgs {
    /// The node options these flags describe.
    pub fn node_options(&self) -> NodeOptions {
        NodeOptions {
            window_size: (self.width, self.height),
            start_url: self.start_url.clone(),
            chromium_args: self.chromium_args.clone(),
            startup_timeout: self.startup_timeout,
            remote_debugging_port: self.remote_debugging_port,
            vnc_port: self.vnc_port,
            kiosk: !self.show_toolbar,
            headless: self.headless,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("browser-node").chain(args.iter().copied()))?;
        Ok(cli.into_serve_args())
    }

    #[test]
    fn serve_is_the_default_and_defaults_fit_one_machine() {
        let args = serve_args(&[]).expect("parse");
        assert_eq!((args.width, args.height), (1280, 800));
        assert_eq!(args.start_url, "about:blank");
        assert_eq!(args.startup_timeout, Duration::from_secs(20));
        assert!(args.database_url.is_none() && args.org.is_none());
        assert!(args.node_options().kiosk);
        assert!(!args.node_options().headless, "a VNC node unless asked");
    }

    #[test]
    fn headless_asks_for_chromium_alone_and_refuses_vnc_flags() {
        let args = serve_args(&["serve", "--headless"]).expect("parse");
        assert!(args.headless && args.node_options().headless);
        for vnc_flag in [
            &["--vnc-port", "5901"][..],
            &["--advertise-vnc-url", "ws://10.0.0.1:6080"],
            &["--show-toolbar"],
        ] {
            let mut flags = vec!["serve", "--headless"];
            flags.extend_from_slice(vnc_flag);
            assert!(serve_args(&flags).is_err(), "{vnc_flag:?} with --headless");
        }
    }

    #[test]
    fn registration_needs_both_the_database_and_the_org() {
        assert!(serve_args(&["serve", "--database-url", "sqlite://x.db"]).is_err());
        assert!(serve_args(&["serve", "--org", "org_1"]).is_err());
        let args = serve_args(&["serve", "--database-url", "sqlite://x.db", "--org", "org_1"])
            .expect("parse");
        assert_eq!(args.org.as_deref(), Some("org_1"));
    }

    #[test]
    fn sizes_and_durations_out_of_range_are_refused() {
        assert!(serve_args(&["--width", "0"]).is_err());
        assert!(serve_args(&["--startup-timeout", "0s"]).is_err());
        assert!(serve_args(&["--startup-timeout", "5h"]).is_err());
        let args = serve_args(&["--startup-timeout", "500ms", "--width", "800"]).expect("parse");
        assert_eq!(args.startup_timeout, Duration::from_millis(500));
        assert_eq!(args.node_options().window_size, (800, 800));
    }
}
