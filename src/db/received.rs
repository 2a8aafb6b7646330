//! The `received_activities` table: ids of activities already processed.

use super::{Db, is_unique_violation, now_ms};
use crate::error::Result;

/// Whether this activity id was already processed.
pub async fn seen(db: &Db, ap_id: &str) -> Result<bool> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT 1 FROM received_activities WHERE ap_id = $1")
            .bind(ap_id)
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

/// Records the id inside the processing transaction. Returns false when it was already there (another request
/// processed the same activity first), in which case the caller rolls back and answers as if done.
pub async fn record(tx: &mut sqlx::AnyConnection, ap_id: &str) -> Result<bool> {
    let r = sqlx::query("INSERT INTO received_activities (ap_id, received_at) VALUES ($1, $2)")
        .bind(ap_id)
        .bind(now_ms())
        .execute(tx)
        .await;
    match r {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
