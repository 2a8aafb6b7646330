//! Rate limits on inboxes, per IP address and per remote host (GCRA, from the `governor` crate). Refusals are
//! 429 with `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::App;
use crate::config::LimitSettings;

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_host: Option<DefaultKeyedRateLimiter<String>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let n = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new((per_minute / 10).max(1)).expect("at least 1");
    Some(RateLimiter::keyed(Quota::per_minute(n).allow_burst(burst)))
}

impl Limits {
    pub fn new(s: &LimitSettings) -> Limits {
        Limits {
            per_ip: limiter(s.inbox_per_ip_per_minute),
            per_host: limiter(s.inbox_per_host_per_minute),
        }
    }

    /// `Err(wait)` when the IP is over its limit.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        check(self.per_ip.as_ref(), &ip)
    }

    /// `Err(wait)` when the remote host is over its limit.
    pub fn check_host(&self, host: &str) -> Result<(), Duration> {
        check(self.per_host.as_ref(), &host.to_string())
    }

    /// Drops the state of keys that are back to full, so memory stays bounded.
    pub fn tidy(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
        }
        if let Some(l) = &self.per_host {
            l.retain_recent();
        }
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    l: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Duration> {
    match l {
        None => Ok(()),
        Some(l) => l
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
    }
}

/// A 429 answer with `Retry-After` (whole seconds, at least 1).
pub fn too_many(wait: Duration, what: &str) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut res = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(
            serde_json::json!({"error": format!("too many requests {what}; retry in {secs} s")}),
        ),
    )
        .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    res
}

/// Middleware: the per-IP limit of inbox POSTs.
pub async fn per_ip(State(app): State<App>, req: Request, next: Next) -> Response {
    let is_inbox = req.method() == axum::http::Method::POST && req.uri().path().ends_with("/inbox");
    if is_inbox
        && let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Err(wait) = app.limits.check_ip(addr.ip())
    {
        return too_many(wait, "from this address");
    }
    next.run(req).await
}
