//! `StreamScreencast` against a real Chromium: frames show the page (decoded JPEG pixels), a
//! change on the page and a tab switch reach the stream, a slow consumer gets fewer, newer
//! frames (numbered with gaps, counted as evicted), a screencast that falls behind the
//! browser's events is counted and goes on, and a killed browser ends the stream with
//! UNAVAILABLE.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use proto::cdp::v1::{ScreencastFrame, StreamScreencastRequest};
use support::pages::Pages;
use support::{chromium, chromium_available, target, Driver, Executor, WAIT};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Streaming};

const BLUE: [u8; 3] = [0x19, 0x76, 0xd2];
const RED: [u8; 3] = [0xe5, 0x39, 0x35];
const GREEN: [u8; 3] = [0x43, 0xa0, 0x47];

fn request(cdp: &str) -> StreamScreencastRequest {
    StreamScreencastRequest {
        target: target(cdp),
        max_width: 0,
        max_height: 0,
        quality: 0,
    }
}

/// The RGB of the frame's centre pixel (the frame must be a JPEG).
fn centre(frame: &ScreencastFrame) -> [u8; 3] {
    let image = image::load_from_memory_with_format(&frame.data, image::ImageFormat::Jpeg)
        .expect("a JPEG frame")
        .to_rgb8();
    image.get_pixel(image.width() / 2, image.height() / 2).0
}

fn near(pixel: [u8; 3], colour: [u8; 3]) -> bool {
    pixel.iter().zip(colour).all(|(p, c)| p.abs_diff(c) <= 24)
}

/// Opens a screencast of the browser at `cdp`.
async fn open(client: &mut CdpExecutorClient<Channel>, cdp: &str) -> Streaming<ScreencastFrame> {
    client
        .stream_screencast(request(cdp))
        .await
        .expect("the screencast opens")
        .into_inner()
}

async fn next(stream: &mut Streaming<ScreencastFrame>) -> ScreencastFrame {
    tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("a frame in time")
        .expect("no error")
        .expect("stream open")
}

/// Reads frames until one satisfies `done`; returns it.
async fn until(
    stream: &mut Streaming<ScreencastFrame>,
    done: impl Fn(&ScreencastFrame) -> bool,
) -> ScreencastFrame {
    let deadline = Instant::now() + WAIT;
    loop {
        let frame = next(stream).await;
        if done(&frame) {
            return frame;
        }
        assert!(
            Instant::now() < deadline,
            "no such frame; last: {}",
            describe(&frame)
        );
    }
}

fn describe(frame: &ScreencastFrame) -> String {
    format!(
        "#{} tab {} url {} centre {:?}",
        frame.sequence,
        frame.tab_id,
        frame.url,
        centre(frame)
    )
}

/// GETs `/metrics` with a bare HTTP/1.0 request and returns the body.
async fn scrape(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: metrics\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, socket.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    answer
}

fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Scrapes `/metrics` until the sample of `prefix` satisfies `done` (`failure` after [`WAIT`]).
async fn until_sample(
    metrics: SocketAddr,
    prefix: &str,
    done: impl Fn(Option<f64>) -> bool,
    failure: &str,
) {
    let deadline = Instant::now() + WAIT;
    while !done(sample(&scrape(metrics).await, prefix)) {
        assert!(Instant::now() < deadline, "{failure}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A browser, the page server, a direct CDP connection and its first tab.
struct Scene {
    browser: support::Chromium,
    pages: Pages,
    driver: Driver,
    tab: cdp_executor::browser::ActiveTab,
}

impl Scene {
    async fn start() -> Self {
        let browser = chromium(0).await;
        let pages = Pages::start().await;
        let driver = Driver::connect(&browser).await;
        let tab = driver.first_tab().await;
        Self {
            browser,
            pages,
            driver,
            tab,
        }
    }
}

#[tokio::test]
async fn frames_show_the_page_and_follow_its_changes() {
    if !chromium_available() {
        return;
    }
    let Scene {
        browser,
        pages,
        driver,
        tab,
    } = Scene::start().await;
    let url = pages.url("/color/1976d2");
    driver.goto(&tab, &url).await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let mut stream = open(&mut exec.client, &cdp).await;

    // The still page arrives (the primer, or a newer frame that pushed it out of the queue of
    // two when the consumer was slow to start reading).
    let first = next(&mut stream).await;
    assert!((1..=3).contains(&first.sequence), "{}", describe(&first));
    assert_eq!(first.format, "jpeg");
    assert!(near(centre(&first), BLUE), "{}", describe(&first));
    assert!(first.viewport_width > 0 && first.viewport_height > 0);
    assert_eq!(first.url, url);
    assert_eq!(first.tab_id, tab.target_id);
    assert!(first.captured_at.is_some());

    // A repaint is streamed.
    driver
        .eval(&tab, "document.body.style.background = '#e53935'")
        .await;
    let red = until(&mut stream, |f| near(centre(f), RED)).await;
    assert!(red.sequence > first.sequence);
    assert_eq!(red.tab_id, tab.target_id);
    assert!(red.viewport_width > 0 && red.viewport_height > 0);

    // A same-document navigation moves the URL of the frames that follow.
    driver
        .eval(
            &tab,
            "history.pushState({}, '', '/color/1976d2#moved'); document.body.style.background = '#43a047'",
        )
        .await;
    let green = until(&mut stream, |f| near(centre(f), GREEN)).await;
    assert_eq!(green.url, format!("{url}#moved"));
    drop(stream);
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn a_tab_switch_moves_the_screencast() {
    if !chromium_available() {
        return;
    }
    let browser = chromium(0).await;
    let pages = Pages::start().await;
    let driver = Driver::connect(&browser).await;
    let first = driver.first_tab().await;
    driver.goto(&first, &pages.url("/color/1976d2")).await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    let mut stream = open(&mut exec.client, &cdp).await;
    let frame = next(&mut stream).await;
    assert_eq!(frame.tab_id, first.target_id);
    assert!(near(centre(&frame), BLUE), "{}", describe(&frame));

    // A new tab in front.
    let red_url = pages.url("/color/e53935");
    let second = driver.new_tab(&red_url).await;
    driver.front(&second).await;
    let switched = Instant::now();
    let frame = until(&mut stream, |f| f.tab_id == second.target_id).await;
    let to_new = switched.elapsed();
    assert!(near(centre(&frame), RED), "{}", describe(&frame));
    assert_eq!(frame.url, red_url);

    // Back to the first tab (no target event: only its focus changes).
    driver.front(&first).await;
    let switched = Instant::now();
    let frame = until(&mut stream, |f| f.tab_id == first.target_id).await;
    let back = switched.elapsed();
    assert!(near(centre(&frame), BLUE), "{}", describe(&frame));
    println!("tab switch: to a new tab {to_new:?}, back to an existing one {back:?}");
    // The contract is 0.5 s after the switch is visible; leave room for a loaded machine.
    assert!(
        back < Duration::from_millis(1500),
        "switch back took {back:?}"
    );
    assert!(
        to_new < Duration::from_millis(1500),
        "switch took {to_new:?}"
    );
    drop(stream);
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn a_slow_consumer_gets_fewer_newer_frames() {
    if !chromium_available() {
        return;
    }
    let Scene {
        browser,
        pages,
        driver,
        tab,
    } = Scene::start().await;
    driver.goto(&tab, &pages.url("/animate")).await;
    let exec = Executor::with_metrics().await;
    let metrics = exec.metrics.unwrap();
    let cdp = browser.cdp_http_url();
    // HTTP/2's default windows (64 KiB) rather than hyper's 2 MiB, so that seconds of small
    // frames do not all fit in flow-control buffers and the executor's queue is what is seen.
    let channel = Endpoint::from_shared(format!("http://{}", exec.addr))
        .unwrap()
        .initial_stream_window_size(Some(65_535))
        .initial_connection_window_size(Some(65_535))
        .connect()
        .await
        .unwrap();
    let mut client = CdpExecutorClient::new(channel);
    let mut stream = open(&mut client, &cdp).await;

    // A consumer that keeps up sees (nearly) every frame: a burst may drop one now and then.
    let mut last = next(&mut stream).await.sequence;
    let started = Instant::now();
    let (mut read, mut missed, mut bytes) = (0u32, 0, 0);
    while started.elapsed() < Duration::from_secs(2) {
        let frame = next(&mut stream).await;
        bytes += frame.data.len();
        missed += frame.sequence - last - 1;
        last = frame.sequence;
        read += 1;
    }
    let fps = f64::from(read) / started.elapsed().as_secs_f64();
    println!(
        "animating page: {fps:.1} frames/s read ({} bytes each), {missed} dropped while keeping up",
        bytes / read as usize
    );
    assert!(fps > 5.0, "{fps:.1} frames/s");
    assert!(
        missed * 5 <= u64::from(read),
        "{missed} of {read} dropped while keeping up"
    );
    let before = sample(
        &scrape(metrics).await,
        "cdp_executor_screencast_frames_evicted_total",
    )
    .unwrap_or(0.0);

    // Then it stops reading for 3 s while the page keeps animating. What was produced
    // meanwhile shows as one long gap in the numbers, after the few frames that waited in
    // buffers (the queue of two, tonic's and HTTP/2's) from the start of the pause.
    let drawn = driver.eval(&tab, "window.frames_drawn").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let drawn = driver
        .eval(&tab, "window.frames_drawn")
        .await
        .as_f64()
        .unwrap()
        - drawn.as_f64().unwrap();
    let (mut backlog, mut dropped, mut after) = (0, 0, 0);
    while after < 40 {
        let frame = next(&mut stream).await;
        let gap = frame.sequence - last - 1;
        if gap > dropped {
            (backlog, dropped) = (after, gap);
        }
        last = frame.sequence;
        after += 1;
    }
    println!(
        "after 3 s unread ({drawn} repaints): {backlog} frames had waited, then {dropped} were dropped"
    );
    assert!(drawn > 30.0, "the page did not animate: {drawn} repaints");
    // The consumer got fewer, newer frames: a run of frames was dropped, not delivered late.
    assert!(dropped >= 5, "only {dropped} frames dropped in 3 s");
    // And what waited for it is bounded, far less than the page drew.
    assert!(
        backlog < 64,
        "{backlog} frames were buffered for a slow consumer"
    );
    let text = scrape(metrics).await;
    let evicted = sample(&text, "cdp_executor_screencast_frames_evicted_total").unwrap();
    // Every missing number is a frame the executor's queue dropped, and counted.
    assert!(
        evicted >= dropped as f64 && evicted > before,
        "{evicted} evicted"
    );
    assert_eq!(sample(&text, "cdp_executor_screencasts "), Some(1.0));
    assert!(sample(&text, "cdp_executor_screencast_frames_sent_total").unwrap() >= read.into());

    // The stream goes on after the pause.
    let frame = next(&mut stream).await;
    assert!(frame.sequence > last);
    drop(stream);
    until_sample(
        metrics,
        "cdp_executor_screencasts ",
        |v| v == Some(0.0),
        "the stream task never ended",
    )
    .await;
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn a_screencast_that_falls_behind_the_browsers_events_is_counted_and_goes_on() {
    if !chromium_available() {
        return;
    }
    let Scene {
        browser,
        pages,
        driver,
        tab,
    } = Scene::start().await;
    driver.goto(&tab, &pages.url("/color/1976d2")).await;
    // One event of room: a burst of events overflows it for sure.
    let mut exec = Executor::with_metrics_and(&["--screencast-event-buffer", "1"]).await;
    let metrics = exec.metrics.expect("metrics address");
    let cdp = browser.cdp_http_url();
    let mut stream = open(&mut exec.client, &cdp).await;
    until(&mut stream, |f| near(centre(f), BLUE)).await;

    // Two thousand same-document navigations at once: a `Page.navigatedWithinDocument` each.
    driver
        .eval(
            &tab,
            "for (let i = 0; i < 2000; i++) history.replaceState({}, '', '#' + i); true",
        )
        .await;
    let restarted = |v: Option<f64>| v.is_some_and(|n| n >= 1.0);
    let restarts = "cdp_executor_screencast_restarts_total";
    until_sample(
        metrics,
        restarts,
        restarted,
        "the screencast never restarted",
    )
    .await;

    // The restarted screencast still follows the page, on the same tab and stream.
    driver
        .eval(&tab, "document.body.style.background = '#43a047'")
        .await;
    let green = until(&mut stream, |f| near(centre(f), GREEN)).await;
    assert_eq!(green.tab_id, tab.target_id);
    drop(stream);
    driver.close();
    exec.shutdown().await;
}

#[tokio::test]
async fn a_killed_browser_ends_the_stream_with_unavailable() {
    if !chromium_available() {
        return;
    }
    let mut browser = chromium(0).await;
    let mut exec = Executor::with_local_pages().await;
    let cdp = browser.cdp_http_url();
    // Chromium announces its endpoint before its first tab exists: wait for a frame.
    let mut stream = open(&mut exec.client, &cdp).await;
    next(&mut stream).await;

    browser.kill().await;
    let killed = Instant::now();
    let status = tokio::time::timeout(WAIT, async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ends");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "took {:?}",
        killed.elapsed()
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn the_executor_shuts_down_while_a_screencast_is_open_and_ends_it() {
    if !chromium_available() {
        return;
    }
    let Scene {
        browser,
        pages,
        driver,
        tab,
    } = Scene::start().await;
    driver.goto(&tab, &pages.url("/color/1976d2")).await;
    let mut exec = Executor::with_local_pages().await;
    let mut stream = open(&mut exec.client, &browser.cdp_http_url()).await;
    next(&mut stream).await;
    // The stream is still held here: shutdown must end it rather than wait for it.
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), exec.shutdown())
        .await
        .expect("shutdown does not wait for an open stream's client");
    println!("shutdown with an open screencast: {:?}", started.elapsed());
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ends with the server");
}

#[tokio::test]
async fn streams_of_one_browser_share_one_screencast() {
    if !chromium_available() {
        return;
    }
    let Scene {
        browser,
        pages,
        driver,
        tab,
    } = Scene::start().await;
    driver.goto(&tab, &pages.url("/color/1976d2")).await;
    let exec = Executor::with_metrics().await;
    let metrics = exec.metrics.unwrap();
    let cdp = browser.cdp_http_url();
    let mut client = exec.client.clone();
    let mut first = open(&mut client, &cdp).await;
    assert!(near(centre(&next(&mut first).await), BLUE));
    // A second stream (another gateway replica, say) joins: its first frame is the latest one.
    let mut second = open(&mut client, &cdp).await;
    assert!(near(centre(&next(&mut second).await), BLUE));
    let text = scrape(metrics).await;
    assert_eq!(
        sample(&text, "cdp_executor_screencasts "),
        Some(1.0),
        "{text}"
    );
    driver
        .eval(&tab, "document.body.style.background = '#e53935'")
        .await;
    until(&mut first, |f| near(centre(f), RED)).await;
    until(&mut second, |f| near(centre(f), RED)).await;
    // The first leaving does not stop the second's frames.
    drop(first);
    driver
        .eval(&tab, "document.body.style.background = '#1976d2'")
        .await;
    until(&mut second, |f| near(centre(f), BLUE)).await;
    drop(second);
    until_sample(
        metrics,
        "cdp_executor_screencasts ",
        |v| v == Some(0.0),
        "the screencast stops with its last stream",
    )
    .await;
}
