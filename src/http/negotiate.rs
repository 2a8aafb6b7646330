//! Content negotiation: ActivityPub JSON for servers, HTML for browsers.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    ActivityJson,
    Html,
}

/// Reads `Accept`. ActivityPub media types (`application/activity+json`, `application/ld+json` with or
/// without the ActivityStreams profile, and plain `application/json`) win over `text/html` unless HTML has a
/// higher quality. No `Accept`, or only wildcards, means a browser-like client: HTML.
pub fn wants(headers: &HeaderMap) -> Wants {
    let mut best_ap: f32 = 0.0;
    let mut best_html: f32 = 0.0;
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            match media.as_str() {
                "application/activity+json" | "application/ld+json" | "application/json" => {
                    best_ap = best_ap.max(q)
                }
                "text/html" | "application/xhtml+xml" => best_html = best_html.max(q),
                _ => {}
            }
        }
    }
    if best_ap > 0.0 && best_ap >= best_html {
        Wants::ActivityJson
    } else {
        Wants::Html
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(accept: &str) -> Wants {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        wants(&h)
    }

    #[test]
    fn negotiation() {
        assert_eq!(with("application/activity+json"), Wants::ActivityJson);
        assert_eq!(
            with(r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#),
            Wants::ActivityJson
        );
        assert_eq!(
            with(
                "application/activity+json, application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""
            ),
            Wants::ActivityJson
        );
        assert_eq!(
            with("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Wants::Html
        );
        assert_eq!(
            with("text/html;q=0.5, application/activity+json"),
            Wants::ActivityJson
        );
        assert_eq!(
            with("text/html, application/activity+json;q=0.1"),
            Wants::Html
        );
        assert_eq!(with("*/*"), Wants::Html);
        assert_eq!(wants(&HeaderMap::new()), Wants::Html);
    }
}
