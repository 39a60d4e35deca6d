//! The test pages, served on 127.0.0.1 by axum: forms, selections, iframes, redirects, solid
//! colours and an animation (screencast), and a page that records input.

use axum::extract::Query;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;

/// A running page server.
pub struct Pages {
    pub base: String,
}

impl Pages {
    pub async fn start() -> Self {
        let app = Router::new()
            .route("/form", get(|| async { Html(FORM) }))
            .route("/select", get(|| async { Html(SELECT) }))
            .route("/outer", get(|| async { Html(OUTER) }))
            .route("/inner", get(|| async { Html(INNER) }))
            .route("/login", get(|| async { Html(LOGIN) }))
            // Never answers: a navigation to it cannot finish.
            .route("/hang", get(std::future::pending::<Html<&'static str>>))
            .route(
                "/page/{n}",
                get(|n: axum::extract::Path<String>| async move {
                    Html(format!("<title>page {0}</title><h1>page {0}</h1>", n.0))
                }),
            )
            // A page of one solid colour, `/color/1976d2`.
            .route(
                "/color/{hex}",
                get(|hex: axum::extract::Path<String>| async move {
                    let hex: String = hex.0.chars().filter(char::is_ascii_hexdigit).take(6).collect();
                    Html(format!(
                        "<title>{hex}</title><style>html,body{{margin:0;height:100%;background:#{hex}}}</style>"
                    ))
                }),
            )
            .route("/animate", get(|| async { Html(ANIMATE) }))
            .route("/input", get(|| async { Html(INPUT) }))
            .route(
                "/redirect",
                get(|q: Query<HashMap<String, String>>| async move {
                    Redirect::temporary(q.get("to").map(String::as_str).unwrap_or("/page/1"))
                        .into_response()
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

const FORM: &str = r#"<title>form</title>
<input id="i" value="">
<textarea id="t"></textarea>
<div id="c" contenteditable="true"></div>
<script>
  window.inputs = { i: 0, t: 0, c: 0 };
  for (const id of ["i", "t", "c"]) document.getElementById(id).addEventListener("input", () => window.inputs[id]++);
</script>"#;

const SELECT: &str = r#"<title>select</title>
<p id="p">The quick brown fox jumps</p>
<input id="i" value="hello selection world">"#;

const OUTER: &str = r#"<title>outer</title><p>outer page</p><iframe id="f" src="/inner"></iframe>"#;

const INNER: &str = r#"<title>inner</title><p id="q">inside the frame</p>"#;

const LOGIN: &str = r#"<title>login</title>
<input id="user" name="user">
<input id="pw" type="password" name="pw">
<input id="card" autocomplete="cc-number">
<a id="next" href="/page/2">next</a>"#;

/// Repaints with a new colour on every animation frame.
const ANIMATE: &str = r#"<title>animate</title>
<style>html,body{margin:0;height:100%}</style>
<script>
  window.frames_drawn = 0;
  function draw() { window.frames_drawn++; document.body.style.background = `hsl(${(window.frames_drawn * 7) % 360},80%,50%)`; requestAnimationFrame(draw); }
  requestAnimationFrame(draw);
</script>"#;

/// A button that counts clicks, a text field, every mouse button seen, and a tall body to
/// scroll.
const INPUT: &str = r#"<title>input</title>
<style>body{margin:0} #b{position:absolute;left:100px;top:100px;width:200px;height:80px} #f{position:absolute;left:100px;top:300px;width:300px;height:40px} #tall{height:5000px}</style>
<button id="b">click</button><input id="f"><div id="tall"></div>
<script>
  window.clicks = 0; window.buttons = []; window.contextmenus = 0;
  document.getElementById("b").addEventListener("click", () => window.clicks++);
  document.addEventListener("mousedown", (e) => window.buttons.push(e.button));
  document.addEventListener("contextmenu", (e) => { window.contextmenus++; e.preventDefault(); });
</script>"#;
