//! Guarded outbound HTTP: every request the node makes (fetches, WebFinger, deliveries) goes through here.
//!
//! - only `http`/`https`; never to loopback, private, link-local, unspecified, multicast, unique-local or other
//!   special addresses in any notation, unless `[federation] allow_private_addresses` — checked on the
//!   addresses the connector is given (our DNS resolver drops forbidden ones) and on IP-literal hosts, at the
//!   first request and after each redirect (at most 3);
//! - connect timeout 5 s, whole response 30 s, body at most 1 MiB;
//! - fetched ActivityPub documents must be ActivityPub JSON and carry the `id` they were fetched at.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::rsa::KeyPair;
use axum::http::{HeaderMap, Method, StatusCode, header};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::Value;
use url::{Host, Url};

use super::signatures;

/// How long an idle connection to a host stays open: a fan-out to a thousand hosts would otherwise leave one
/// per host (~21 KB each) long after it. Deliveries close a host's connection sooner, after the last one due
/// within this time (`deliveries::claim`, `last_of_host`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_BODY: usize = 1024 * 1024;
pub const MAX_REDIRECTS: usize = 3;
pub const AP_ACCEPT: &str = "application/activity+json, application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refused to contact {0}: {1}")]
    Forbidden(String, String),
    #[error("{url} answered {status}")]
    Status {
        url: String,
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    #[error("{0} is gone (410)")]
    Gone(String),
    #[error("{url}: {reason}")]
    Invalid { url: String, reason: String },
    #[error("{url}: {error}")]
    Network {
        url: String,
        error: String,
        timeout: bool,
    },
}

/// Who signs a request: a key and its id.
#[derive(Clone)]
pub struct Signer {
    pub key_id: String,
    pub key: Arc<KeyPair>,
}

/// Whether an address is one the node must never contact (unless private addresses are allowed).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0 // "this network"
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT) 100.64/10
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: embeds an IPv4 address
                || s[0] == 0x2002 // 6to4: embeds an IPv4 address
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d (deprecated)
        }
    }
}

/// Our DNS resolver: the system's, minus forbidden addresses. What the connector gets is what it connects to.
#[derive(Clone)]
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| allow_private || !is_forbidden_ip(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves only to forbidden (private or special) addresses"
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Checks a URL before any request: scheme, host, and IP-literal hosts.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    let refuse = |why: &str| Err(FetchError::Forbidden(url.to_string(), why.to_string()));
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("only http and https URLs are fetched");
    }
    match url.host() {
        None => refuse("no host"),
        Some(Host::Ipv4(ip)) if !allow_private && is_forbidden_ip(IpAddr::V4(ip)) => {
            refuse("a private or special address")
        }
        Some(Host::Ipv6(ip)) if !allow_private && is_forbidden_ip(IpAddr::V6(ip)) => {
            refuse("a private or special address")
        }
        Some(Host::Domain(d)) if !allow_private && is_local_name(d) => refuse("a local host name"),
        _ => Ok(()),
    }
}

/// Names that are local by definition, whatever DNS says.
fn is_local_name(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost"
        || d.ends_with(".localhost")
        || d.ends_with(".local")
        || d.ends_with(".internal")
}

/// Is this an ActivityPub JSON content type?
pub fn is_activity_json(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    let media = ct.split(';').next().unwrap_or("").trim();
    media == "application/activity+json"
        || (media == "application/ld+json"
            && (ct.contains("activitystreams") || !ct.contains("profile")))
}

/// A response we read whole (within the limits).
pub struct Fetched {
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpClient {
    pub fn new(allow_private: bool, user_agent: &str) -> anyhow::Result<HttpClient> {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous()` holds the first URL and every redirect so far.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match check_url(attempt.url(), allow_private) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e.to_string()),
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .redirect(policy)
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .pool_idle_timeout(IDLE_TIMEOUT)
            // One idle connection per host: a fan-out to a thousand hosts otherwise keeps every connection it
            // opened (up to `per_host` each, ~22 KB apiece) for a minute: +100 MiB in benchmark B2.
            .pool_max_idle_per_host(1)
            .build()?;
        Ok(HttpClient {
            client,
            allow_private,
        })
    }

    /// Sends a request and reads the body (at most [`MAX_BODY`]).
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: Vec<(header::HeaderName, header::HeaderValue)>,
        body: Option<Vec<u8>>,
    ) -> Result<Fetched, FetchError> {
        check_url(url, self.allow_private)?;
        let mut req = self.client.request(method, url.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let net = |e: reqwest::Error| FetchError::Network {
            url: url.to_string(),
            timeout: e.is_timeout(),
            error: error_chain(&e),
        };
        let mut res = req.send().await.map_err(net)?;
        if let Some(len) = res.content_length()
            && len as usize > MAX_BODY
        {
            return Err(FetchError::Invalid {
                url: url.to_string(),
                reason: format!("the response is {len} bytes, more than the {MAX_BODY} allowed"),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(net)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::Invalid {
                    url: url.to_string(),
                    reason: format!("the response is larger than the {MAX_BODY} bytes allowed"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: res.url().clone(),
            status: res.status(),
            headers: res.headers().clone(),
            body,
        })
    }

    /// Fetches an ActivityPub document: `Accept` ActivityPub JSON, signed by `signer` when given. The answer
    /// must be 2xx, ActivityPub JSON, and carry as `id` the URL it came from (after redirects).
    pub async fn get_activity_json(
        &self,
        url: &Url,
        signer: Option<&Signer>,
    ) -> Result<Value, FetchError> {
        let mut headers = vec![(header::ACCEPT, header::HeaderValue::from_static(AP_ACCEPT))];
        if let Some(s) = signer {
            let signed = signatures::sign_draft_cavage(
                &s.key,
                &s.key_id,
                &Method::GET,
                url,
                None,
                None,
                SystemTime::now(),
            )
            .map_err(|e| FetchError::Invalid {
                url: url.to_string(),
                reason: format!("cannot sign the request: {e}"),
            })?;
            headers.extend(signed);
        }
        let res = self.send(Method::GET, url, headers, None).await?;
        let at = res.url.to_string();
        if res.status == StatusCode::GONE {
            return Err(FetchError::Gone(at));
        }
        if !res.status.is_success() {
            return Err(FetchError::Status {
                url: at,
                status: res.status,
                retry_after: retry_after(&res.headers),
            });
        }
        let ct = res
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_activity_json(ct) {
            return Err(FetchError::Invalid {
                url: at,
                reason: format!("content type {ct:?} is not ActivityPub JSON"),
            });
        }
        let doc: Value = serde_json::from_slice(&res.body).map_err(|e| FetchError::Invalid {
            url: at.clone(),
            reason: format!("invalid JSON: {e}"),
        })?;
        let id = doc.get("id").and_then(Value::as_str).unwrap_or("");
        if !same_resource(id, &res.url) {
            return Err(FetchError::Invalid {
                url: at,
                reason: format!("the document's id {id:?} is not the URL it was fetched from"),
            });
        }
        Ok(doc)
    }

    /// Resolves `user@host` to an actor id with WebFinger (over https, or http when private addresses are
    /// allowed and https fails — for peers on this machine).
    pub async fn webfinger(&self, user: &str, host: &str) -> Result<Url, FetchError> {
        let schemes: &[&str] = if self.allow_private {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last = None;
        for scheme in schemes {
            let url = Url::parse_with_params(
                &format!("{scheme}://{host}/.well-known/webfinger"),
                &[("resource", format!("acct:{user}@{host}"))],
            )
            .map_err(|e| FetchError::Invalid {
                url: host.to_string(),
                reason: e.to_string(),
            })?;
            let headers = vec![(
                header::ACCEPT,
                header::HeaderValue::from_static("application/jrd+json"),
            )];
            match self.send(Method::GET, &url, headers, None).await {
                Ok(res) if res.status.is_success() => return parse_webfinger(&url, &res.body),
                Ok(res) => {
                    last = Some(FetchError::Status {
                        url: url.to_string(),
                        status: res.status,
                        retry_after: None,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one scheme"))
    }
}

/// The actor id in a WebFinger answer: the `self` link of an ActivityPub type. Read with the
/// `activitypub_federation` crate's WebFinger types.
fn parse_webfinger(url: &Url, body: &[u8]) -> Result<Url, FetchError> {
    let doc: activitypub_federation::fetch::webfinger::Webfinger = serde_json::from_slice(body)
        .map_err(|e| FetchError::Invalid {
            url: url.to_string(),
            reason: format!("invalid WebFinger JSON: {e}"),
        })?;
    doc.links
        .into_iter()
        .find(|l| {
            l.rel.as_deref() == Some("self") && l.kind.as_deref().is_some_and(is_activity_json)
        })
        .and_then(|l| l.href)
        .ok_or_else(|| FetchError::Invalid {
            url: url.to_string(),
            reason: "no self link of an ActivityPub type".into(),
        })
}

/// Whether a document id names the URL it was fetched from (fragments aside).
pub fn same_resource(id: &str, fetched: &Url) -> bool {
    let Ok(mut id) = Url::parse(id) else {
        return false;
    };
    let mut fetched = fetched.clone();
    id.set_fragment(None);
    fetched.set_fragment(None);
    id == fetched
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_addresses_in_every_notation() {
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            assert!(is_forbidden_ip(ip(bad)), "{bad} must be forbidden");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2a01:4f8::1",
        ] {
            assert!(!is_forbidden_ip(ip(good)), "{good} is public");
        }
    }

    #[test]
    fn url_checks() {
        let no = |u: &str| check_url(&Url::parse(u).unwrap(), false).is_err();
        assert!(no("ftp://example.com/x"));
        assert!(no("file:///etc/passwd"));
        assert!(no("http://127.0.0.1/"));
        assert!(no("http://2130706433/")); // decimal 127.0.0.1, parsed by url as IPv4
        assert!(no("http://0x7f.1/"));
        assert!(no("http://[::ffff:7f00:1]/"));
        assert!(no("http://localhost:8080/"));
        assert!(no("http://LOCALHOST./"));
        assert!(no("http://api.localhost/"));
        assert!(!no("https://mastodon.social/users/x"));
        assert!(check_url(&Url::parse("http://localhost:8080/").unwrap(), true).is_ok());
    }

    #[test]
    fn content_types() {
        assert!(is_activity_json("application/activity+json"));
        assert!(is_activity_json("application/activity+json; charset=utf-8"));
        assert!(is_activity_json(
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""
        ));
        assert!(!is_activity_json("application/json"));
        assert!(!is_activity_json("text/html"));
        assert!(!is_activity_json(
            "application/ld+json; profile=\"http://example.com/other\""
        ));
    }

    #[test]
    fn webfinger_self_link() {
        let u = Url::parse("https://a.example/.well-known/webfinger").unwrap();
        let body = br#"{"subject":"acct:x@a.example","links":[
            {"rel":"http://webfinger.net/rel/profile-page","type":"text/html","href":"https://a.example/@x"},
            {"rel":"self","type":"application/activity+json","href":"https://a.example/users/x"}]}"#;
        assert_eq!(
            parse_webfinger(&u, body).unwrap().as_str(),
            "https://a.example/users/x"
        );
        let no_self = br#"{"subject":"acct:x@a.example","links":[{"rel":"self","type":"text/html","href":"https://a.example/x"}]}"#;
        assert!(parse_webfinger(&u, no_self).is_err());
        assert!(parse_webfinger(&u, b"not json").is_err());
    }

    #[test]
    fn ids_must_match() {
        let u = Url::parse("https://a.example/users/x").unwrap();
        assert!(same_resource("https://a.example/users/x", &u));
        assert!(same_resource("https://a.example/users/x#main-key", &u));
        assert!(!same_resource("https://b.example/users/x", &u));
        assert!(!same_resource("https://a.example/users/y", &u));
        assert!(!same_resource("", &u));
    }
}
