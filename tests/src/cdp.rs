//! The CDP transport's test world: a headless Chromium (no X server, no VNC server) on a
//! page server, a real verification and cdp-executor, one or two gateways (two on a shared
//! Redis bus for cross-replica tests), and a browser session registered with its DevTools
//! address only. The page is read and steered through a direct CDP connection.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use cdp_executor::browser::BrowserConn;
use gateway::config::Config;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::executor::{ExecutorOptions, TestExecutor};
use crate::gateway::{TestGateway, WAIT};
use crate::message::MessageClient;
use crate::node::{Chromium, ChromiumOptions};
use crate::verification::TestVerification;

/// The colour of `/blue` (and of the first tab).
pub const BLUE: [u8; 3] = [0x19, 0x76, 0xd2];
/// The colour of `/red`.
pub const RED: [u8; 3] = [0xd3, 0x2f, 0x2f];

/// A form with a field, a click counter and key/button recorders, over a blue background.
const FORM: &str = r#"<title>form</title><style>html,body{margin:0;background:#1976d2;height:100%}
#f{position:absolute;left:100px;top:100px;width:300px;height:40px}
#b{position:absolute;left:100px;top:200px;width:200px;height:60px}</style>
<input id="f" autocomplete="off"><button id="b" onclick="window.clicks=(window.clicks||0)+1">click</button>
<script>window.keys=[];window.buttons=[];
addEventListener('keydown',e=>keys.push((e.ctrlKey?'C-':'')+(e.metaKey?'M-':'')+(e.shiftKey?'S-':'')+e.key),true);
addEventListener('mousedown',e=>buttons.push(e.button),true);
addEventListener('contextmenu',e=>e.preventDefault());</script>"#;

/// A page as busy as a real one: 300 rectangles of random colours redrawn on a full-viewport
/// canvas every animation frame (large JPEG frames, unlike a solid colour).
const BUSY: &str = "<title>busy</title><style>html,body{margin:0;height:100%;overflow:hidden}</style><canvas id=c></canvas><script>const c=document.getElementById('c');c.width=innerWidth;c.height=innerHeight;const g=c.getContext('2d');function f(){for(let i=0;i<300;i++){g.fillStyle=`hsl(${Math.random()*360},70%,50%)`;g.fillRect(Math.random()*c.width,Math.random()*c.height,20+Math.random()*120,20+Math.random()*80)}requestAnimationFrame(f)}requestAnimationFrame(f)</script>";

/// Serves `/form`, `/blue`, `/red`, `/anim` (a colour that changes every frame) and `/busy`.
async fn pages() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind pages");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let solid = |colour: &str| {
                    format!("<title>{colour}</title><style>html,body{{margin:0;height:100%;background:{colour}}}</style>")
                };
                let body = match path.as_str() {
                    "/form" => FORM.to_owned(),
                    "/blue" => solid("#1976d2"),
                    "/red" => solid("#d32f2f"),
                    "/busy" => BUSY.to_owned(),
                    "/anim" => "<title>anim</title><style>html,body{margin:0;height:100%}</style><script>let n=0;function f(){n=(n+7)%256;document.body.style.background=`rgb(${n},90,160)`;requestAnimationFrame(f)}requestAnimationFrame(f)</script>".to_owned(),
                    other => format!("<title>{other}</title>"),
                };
                let response = format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    base
}

/// Everything a CDP transport test needs.
pub struct CdpWorld {
    /// Verification (SQLite).
    pub verification: TestVerification,
    /// The executor.
    pub executor: TestExecutor,
    /// The gateways (one, or two on one bus).
    pub gateways: Vec<TestGateway>,
    /// The organization and its API key.
    pub org: String,
    /// Its API key.
    pub key: String,
    /// The browser session: DevTools address only, no VNC.
    pub session: String,
    /// Base URL of the page server.
    pub pages: String,
    /// The browser.
    pub chromium: Chromium,
    /// A direct CDP connection to the browser.
    pub conn: Arc<BrowserConn>,
    /// The session of the first tab on `conn`.
    pub tab: String,
    stop: CancellationToken,
}

impl Drop for CdpWorld {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl CdpWorld {
    /// One gateway, the first tab on `path`.
    pub async fn start(path: &str) -> Self {
        Self::start_with(path, None, |_| {}).await
    }

    /// With two gateways on the Redis bus `bus` when given; `tweak` adjusts each config.
    pub async fn start_with(path: &str, bus: Option<&str>, tweak: impl Fn(&mut Config)) -> Self {
        let chromium = Chromium::launch(ChromiumOptions::default())
            .await
            .expect("chromium starts");
        let pages = pages().await;
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let handle = cdp_executor::cdp::connect(
            chromium.cdp_ws_url(),
            Duration::from_secs(10),
            &tracker,
            &stop,
        )
        .await
        .expect("CDP connects");
        let conn = Arc::new(BrowserConn::new(handle));
        let target = conn.pages().await.expect("pages")[0].target_id.clone();
        let tab = conn.session_for(&target).await.expect("tab session");
        conn.call("Page.bringToFront", Some(&tab), json!({}))
            .await
            .expect("front");
        let verification = TestVerification::spawn_sqlite().await;
        let org = verification.create_org("acme").await;
        let key = verification.create_api_key(&org).await;
        let session = verification
            .create_browser_session(&org, None, Some(&chromium.cdp_http_url()))
            .await;
        let executor = TestExecutor::spawn(&verification.url, ExecutorOptions::default()).await;
        let replicas = if bus.is_some() { 2 } else { 1 };
        let mut gateways = Vec::new();
        for _ in 0..replicas {
            let mut config = Config::for_tests(verification.url.clone());
            config.cdp_executor_url = Some(executor.url.clone());
            config.bus = bus.map(str::to_owned);
            tweak(&mut config);
            gateways.push(TestGateway::spawn_with(config).await);
        }
        let world = Self {
            verification,
            executor,
            gateways,
            org,
            key,
            session,
            pages,
            chromium,
            conn,
            tab,
            stop,
        };
        world.goto(path).await;
        world
    }

    /// `client_id=…&apikey=…`.
    pub fn query(&self, client_id: &str) -> String {
        format!("client_id={client_id}&apikey={}", self.key)
    }

    /// A screencast socket of the session on gateway `replica` (`extra` appended to the query).
    pub async fn screencast(&self, replica: usize, client_id: &str, extra: &str) -> MessageClient {
        let path = format!("/v1/stream/browser_sessions/{}", self.session);
        let query = format!("{}{extra}", self.query(client_id));
        MessageClient::connect(&self.gateways[replica].ws_url(&path, &query)).await
    }

    /// A CDP input socket of the session on gateway `replica`, once it said `ready`.
    pub async fn input(&self, replica: usize, client_id: &str) -> MessageClient {
        let path = format!("/v1/stream/cdp_input/browser_session/{}", self.session);
        let mut input =
            MessageClient::connect(&self.gateways[replica].ws_url(&path, &self.query(client_id)))
                .await;
        input.next_of_kind("ready").await;
        input
    }

    /// A Message socket of the session on gateway `replica`, once it got `control-state`.
    pub async fn messages(&self, replica: usize, client_id: &str) -> MessageClient {
        let path = crate::message::path("browser_session", &self.session);
        let mut messages =
            MessageClient::connect(&self.gateways[replica].ws_url(&path, &self.query(client_id)))
                .await;
        messages.next_of_kind("control-state").await;
        messages
    }

    /// Evaluates `expression` in the first tab.
    pub async fn eval(&self, expression: &str) -> Value {
        self.conn
            .evaluate(&self.tab, expression)
            .await
            .expect("evaluates")
    }

    /// Waits until `expression` is true in the first tab (bounded by the kit's wait).
    pub async fn wait_for(&self, expression: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.conn.evaluate(&self.tab, expression).await.ok();
            if value == Some(Value::Bool(true)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for `{expression}` (last: {value:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens `path` of the page server in the first tab and waits for it to load.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.pages);
        self.conn
            .call("Page.navigate", Some(&self.tab), json!({ "url": url }))
            .await
            .expect("navigates");
        self.wait_for(&format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(url)
        ))
        .await;
    }
}

/// The next frame, which must be a running one.
pub async fn next_frame(socket: &mut MessageClient) -> Value {
    let frame = socket
        .next_within(WAIT)
        .await
        .unwrap_or_else(|closed| panic!("no frame: {closed:?}"));
    assert_eq!(frame["status"], "running", "a running frame: {frame}");
    frame
}

/// The RGB of the frame's pixel at (`fx`, `fy`) as fractions of its size.
pub fn pixel(frame: &Value, fx: f64, fy: f64) -> [u8; 3] {
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(frame["screenshot"].as_str().expect("a screenshot"))
        .expect("base64");
    let image = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
        .expect("a JPEG")
        .to_rgb8();
    let x = ((image.width() as f64 - 1.0) * fx) as u32;
    let y = ((image.height() as f64 - 1.0) * fy) as u32;
    image.get_pixel(x, y).0
}

/// Whether `a` is within 24 of `b` on every channel (JPEG is lossy).
pub fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 24)
}

/// Reads frames until one's centre is near `colour` (bounded by the kit's wait).
pub async fn frame_of_colour(socket: &mut MessageClient, colour: [u8; 3]) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = next_frame(socket).await;
        if near(pixel(&frame, 0.5, 0.5), colour) {
            return frame;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no frame of colour {colour:?}"
        );
    }
}
