//! The test pages, served on 127.0.0.1 by axum: forms, selections, iframes, redirects.

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
