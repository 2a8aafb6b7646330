//! The `instance_keys` table: the key pair of the instance actor, which signs our fetches.

use super::{Db, now_ms};
use crate::error::Result;
use crate::federation::keys::{PemKeyPair, generate_rsa_2048};

/// The instance key pair, made on first use. Two processes racing both insert-or-ignore and read the winner.
pub async fn key_pair(db: &Db) -> Result<PemKeyPair> {
    if let Some(pair) = load(db).await? {
        return Ok(pair);
    }
    let pair = tokio::task::spawn_blocking(generate_rsa_2048)
        .await
        .map_err(|e| anyhow::anyhow!("key generation panicked: {e}"))??;
    sqlx::query(
        "INSERT INTO instance_keys (id, public_key_pem, private_key_pem, created_at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&pair.public_key_pem)
    .bind(&pair.private_key_pem)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(load(db).await?.expect("instance key just stored"))
}

async fn load(db: &Db) -> Result<Option<PemKeyPair>> {
    Ok(sqlx::query_as::<_, (String, String)>(
        "SELECT public_key_pem, private_key_pem FROM instance_keys WHERE id = 1",
    )
    .fetch_optional(&db.pool)
    .await?
    .map(|(public_key_pem, private_key_pem)| PemKeyPair {
        public_key_pem,
        private_key_pem,
    }))
}
