//! Embedding the viewer page (PROTOCOL §5 links and embedding): the page may be framed only
//! by the origins of `--frame-ancestors`. Every response of the page's directory carries the
//! policy: `Content-Security-Policy: frame-ancestors 'self' <origins>` with a list, and
//! `X-Frame-Options: DENY` with `frame-ancestors 'none'` without one. `GET
//! /viewer-config.json` tells the page the same list, so its postMessage API talks to an
//! allowed parent only. Pure: origins are checked and serialized here, headers built here.

use axum::http::{HeaderName, HeaderValue};

/// Parses one `--frame-ancestors` entry into its origin (`scheme://host[:port]`), refusing
/// anything that is not a bare http(s) origin (a path, a query, a wildcard, a CSP keyword or
/// separator), so the list can never widen or break the policy it is written into.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let refuse =
        || format!("{text:?} is not an origin like https://app.example or http://host:8080");
    let url = url::Url::parse(text).map_err(|_| refuse())?;
    let rest = text.split_once("://").map_or("", |(_, rest)| rest);
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && !rest
            .trim_end_matches('/')
            .contains(['/', ';', ',', ' ', '\'', '*', '?', '#', '@']);
    if !bare {
        return Err(refuse());
    }
    Ok(url.origin().ascii_serialization())
}

/// The framing headers of every viewer-page response.
pub fn headers(ancestors: &[String]) -> Vec<(HeaderName, HeaderValue)> {
    let csp = HeaderName::from_static("content-security-policy");
    if ancestors.is_empty() {
        return vec![
            (csp, HeaderValue::from_static("frame-ancestors 'none'")),
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
        ];
    }
    let policy = format!("frame-ancestors 'self' {}", ancestors.join(" "));
    // Every entry went through `parse_origin`: only visible ASCII remains.
    let value = HeaderValue::from_str(&policy).expect("serialized origins are header-safe");
    vec![(csp, value)]
}

/// The body of `GET /viewer-config.json`.
pub fn viewer_config(ancestors: &[String]) -> serde_json::Value {
    serde_json::json!({ "frame_ancestors": ancestors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_anything_else_is_refused() {
        assert_eq!(
            parse_origin("https://App.Example").unwrap(),
            "https://app.example"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse_origin("https://a.example:443").unwrap(),
            "https://a.example"
        );
        for bad in [
            "a.example",
            "https://*.example",
            "https://a.example/path",
            "https://a.example?x=1",
            "https://a.example;script-src *",
            "https://a.example 'unsafe-inline'",
            "ftp://a.example",
            "'self'",
            "*",
            "https://user@a.example",
            "",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn without_a_list_the_page_cannot_be_framed_and_with_one_only_there() {
        let deny = headers(&[]);
        assert!(deny
            .iter()
            .any(|(n, v)| n == "x-frame-options" && v == "DENY"));
        assert!(deny
            .iter()
            .any(|(n, v)| n == "content-security-policy" && v == "frame-ancestors 'none'"));
        let allow = headers(&["https://a.example".into(), "http://b:81".into()]);
        assert_eq!(allow.len(), 1);
        assert_eq!(
            allow[0].1,
            "frame-ancestors 'self' https://a.example http://b:81"
        );
    }
}
