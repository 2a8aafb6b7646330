//! The fan-out sink: many remote "hosts" in this process, each a listener on its own loopback port that
//! answers every POST with 202 and counts it per inbox; or, for a dead host, accepts connections and never
//! answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::serve::ListenerExt;

#[derive(Default)]
pub struct SinkState {
    pub total: AtomicU64,
    /// Connections the answering hosts accepted (one per host when every connection is reused).
    pub connections: Arc<AtomicU64>,
    /// "port path" → POSTs received.
    pub per_inbox: Mutex<HashMap<String, u32>>,
    pub first_at: Mutex<Option<Instant>>,
    pub last_at: Mutex<Option<Instant>>,
    /// The first request, to check its signature: (port, path, headers, body).
    pub sample: Mutex<Option<(u16, String, HeaderMap, Bytes)>>,
}

pub struct Sink {
    pub state: Arc<SinkState>,
    /// Ports of the answering hosts, then of the dead ones.
    pub live_ports: Vec<u16>,
    pub dead_ports: Vec<u16>,
}

impl Sink {
    pub async fn start(live: usize, dead: usize) -> anyhow::Result<Sink> {
        let state = Arc::new(SinkState::default());
        let mut live_ports = Vec::new();
        for _ in 0..live {
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let port = listener.local_addr()?.port();
            live_ports.push(port);
            let app = axum::Router::new()
                .fallback(inbox)
                .with_state((state.clone(), port));
            let connections = state.connections.clone();
            let listener = listener.tap_io(move |_| {
                connections.fetch_add(1, Ordering::Relaxed);
            });
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
        }
        let mut dead_ports = Vec::new();
        for _ in 0..dead {
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            dead_ports.push(listener.local_addr()?.port());
            tokio::spawn(async move {
                // Accept and hold every connection, never reading or answering.
                let mut held = Vec::new();
                while let Ok((s, _)) = listener.accept().await {
                    held.push(s);
                }
            });
        }
        Ok(Sink {
            state,
            live_ports,
            dead_ports,
        })
    }

    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::SeqCst)
    }
}

async fn inbox(
    State((state, port)): State<(Arc<SinkState>, u16)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = Instant::now();
    {
        let mut first = state.first_at.lock().expect("lock");
        if first.is_none() {
            *first = Some(now);
        }
    }
    *state.last_at.lock().expect("lock") = Some(now);
    *state
        .per_inbox
        .lock()
        .expect("lock")
        .entry(format!("{port} {}", uri.path()))
        .or_default() += 1;
    {
        let mut sample = state.sample.lock().expect("lock");
        if sample.is_none() {
            *sample = Some((port, uri.path().to_string(), headers, body));
        }
    }
    state.total.fetch_add(1, Ordering::SeqCst);
    StatusCode::ACCEPTED
}
