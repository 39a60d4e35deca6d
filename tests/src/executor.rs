//! Test kit: a real cdp-executor in-process on 127.0.0.1:0, wired to a verification URL, with
//! short timeouts and navigation to 127.0.0.1 allowed (test pages are served there).
//!
//! ```ignore
//! let v = TestVerification::spawn_sqlite().await;
//! let exec = TestExecutor::spawn(&v.url, ExecutorOptions::default()).await;
//! let mut client = exec.client().await;
//! // … client.get_url(GetUrlRequest { target: Some(BrowserTarget { organization_id, browser_session_id, cdp_url: String::new() }) })
//! exec.shutdown().await;
//! ```

use std::net::SocketAddr;

use clap::Parser;
use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// How to start the executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Accept `BrowserTarget.cdp_url` from callers (`--trust-request-cdp-url`).
    pub trust_request_cdp_url: bool,
    /// `--service-token` (required from callers, sent to verification).
    pub service_token: Option<String>,
    /// Per-operation deadline in milliseconds.
    pub operation_timeout_ms: u64,
    /// Further flags, appended last (e.g. `["--navigate-block-hosts", "example.com"]`).
    pub extra_args: Vec<String>,
    /// Where to listen (default `127.0.0.1:0`); a fixed address lets a test restart it there.
    pub listen: Option<SocketAddr>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            trust_request_cdp_url: false,
            service_token: None,
            operation_timeout_ms: 5000,
            extra_args: Vec::new(),
            listen: None,
        }
    }
}

/// A running executor.
pub struct TestExecutor {
    /// `http://ip:port`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestExecutor {
    /// Starts the executor against `verification_url`.
    pub async fn spawn(verification_url: &str, opts: ExecutorOptions) -> Self {
        let timeout = opts.operation_timeout_ms.to_string();
        let listen = opts
            .listen
            .map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string());
        let mut args: Vec<String> = [
            "cdp-executor",
            "serve",
            "--listen",
            &listen,
            "--verification-url",
            verification_url,
            "--operation-timeout-ms",
            &timeout,
            "--connect-timeout-ms",
            "2000",
            "--reconnect-backoff-ms",
            "50",
            "--reconnect-backoff-max-ms",
            "500",
            "--verify-cache-ms",
            "0",
            "--idle-timeout-ms",
            "60000",
            "--navigate-allow-hosts",
            "127.0.0.1",
            "--shutdown-grace-ms",
            "2000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if opts.trust_request_cdp_url {
            args.push("--trust-request-cdp-url".into());
        }
        if let Some(token) = &opts.service_token {
            args.extend(["--service-token".to_string(), token.clone()]);
        }
        args.extend(opts.extra_args);
        let settings = cdp_executor::Cli::try_parse_from(args)
            .expect("executor flags parse")
            .into_config()
            .validate()
            .expect("executor flags are valid");
        let app = cdp_executor::Application::build(settings)
            .await
            .expect("executor builds");
        let addr = app.local_addr();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let server = tokio::spawn(app.run(async move { token.cancelled().await }));
        Self {
            url: format!("http://{addr}"),
            addr,
            shutdown,
            server: Some(server),
        }
    }

    /// A connected client (no service token attached).
    pub async fn client(&self) -> CdpExecutorClient<Channel> {
        CdpExecutorClient::connect(self.url.clone())
            .await
            .expect("executor accepts connections")
    }

    /// Stops the executor and waits for it (its browser connections close).
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestExecutor {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
