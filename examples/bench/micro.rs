//! `bench db-micro`: what one database round trip costs through sqlx on this machine, to explain the
//! end-to-end numbers. Runs in this process (on the generator's core), against a fresh site's database.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use super::site::Site;

const QUERY: &str = "SELECT * FROM actors WHERE local = 1 AND username_lower = $1";

async fn pool(site: &Site, max: u32, test_before_acquire: bool) -> anyhow::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let sqlite = site.database_url.starts_with("sqlite:");
    let opts = sqlx::any::AnyConnectOptions::from_str(&site.database_url)?;
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .test_before_acquire(test_before_acquire)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await?)
}

/// Runs `n` operations over `tasks` concurrent tasks; returns µs per operation (wall time).
async fn timed<F, Fut>(n: usize, tasks: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let t = Instant::now();
    let per = n / tasks;
    let mut handles = Vec::new();
    for k in 0..tasks {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per {
                op(k * per + i).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / (per * tasks) as f64)
}

pub async fn run(site: &Site) -> anyhow::Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    let n = 20_000;
    for (label, max, tba, tasks) in [
        (
            "read, 1 task, pool of 16, test_before_acquire on (Placard)",
            16,
            true,
            1,
        ),
        (
            "read, 1 task, pool of 16, test_before_acquire off",
            16,
            false,
            1,
        ),
        (
            "read, 64 tasks, pool of 16, test_before_acquire on (Placard)",
            16,
            true,
            64,
        ),
        (
            "read, 64 tasks, pool of 16, test_before_acquire off",
            16,
            false,
            64,
        ),
        (
            "read, 64 tasks, pool of 4, test_before_acquire off",
            4,
            false,
            64,
        ),
    ] {
        let p = pool(site, max, tba).await?;
        let q = p.clone();
        let us = timed(n, tasks, move |_| {
            let q = q.clone();
            async move {
                sqlx::query(QUERY).bind("alice").fetch_optional(&q).await?;
                Ok(())
            }
        })
        .await?;
        println!("    {label}: {us:.1} µs/query");
        out.push((format!("{label} µs"), us));
        p.close().await;
    }
    let sqlite = site.database_url.starts_with("sqlite:");
    for (label, tba) in [
        (
            "write tx (BEGIN, INSERT, COMMIT), 64 tasks, test_before_acquire on",
            true,
        ),
        (
            "write tx (BEGIN, INSERT, COMMIT), 64 tasks, test_before_acquire off",
            false,
        ),
    ] {
        let p = pool(site, 16, tba).await?;
        let q = p.clone();
        let us = timed(n / 4, 64, move |i| {
            let q = q.clone();
            async move {
                let mut tx = if sqlite {
                    q.begin_with("BEGIN IMMEDIATE").await?
                } else {
                    q.begin().await?
                };
                sqlx::query("INSERT INTO received_activities (ap_id, received_at) VALUES ($1, $2)")
                    .bind(format!("http://micro.example/{tba}/{i}"))
                    .bind(0i64)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        })
        .await?;
        println!("    {label}: {us:.1} µs/transaction");
        out.push((format!("{label} µs"), us));
        p.close().await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(out)
}
