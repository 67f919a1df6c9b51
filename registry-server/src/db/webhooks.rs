//! Webhook subscriptions (`webhooks`), their dead letters (`webhook_dead`), and the delivery lease
//! that lets one replica at a time deliver a subscription (migration 0019).
use sqlx::AnyConnection;

use super::{Db, DbError};

/// A subscription row (URL and secret sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub url_hash: String,
    pub url_sealed: String,
    pub secret_sealed: String,
    pub namespace: String,
    /// JSON array of event types.
    pub events: String,
    pub format: String,
    pub paused: i64,
    pub created_by: String,
    pub created_at: i64,
    pub log_cursor: i64,
    pub access_cursor: i64,
    pub attempts: i64,
    pub failing_since: Option<i64>,
    /// The sequence of the failing event (`log`, `access`, or `open` when the subscription itself
    /// does not open); each keeps its own clock.
    pub failing_seq: Option<String>,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered: i64,
    /// The replica delivering it, and until when (ms).
    pub lease_owner: Option<String>,
    pub lease_until: i64,
}

const COLS: &str = "id, url_hash, url_sealed, secret_sealed, namespace, events, format, paused, created_by, \
     created_at, log_cursor, access_cursor, attempts, failing_since, failing_seq, next_attempt_at, last_error, \
     delivered, lease_owner, lease_until";

/// Inserts a subscription; returns its id.
pub async fn insert(conn: &mut AnyConnection, r: &WebhookRow) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO webhooks (url_hash, url_sealed, secret_sealed, namespace, events, format, paused, \
         created_by, created_at, log_cursor, access_cursor) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10) \
         RETURNING id",
    )
    .bind(&r.url_hash)
    .bind(&r.url_sealed)
    .bind(&r.secret_sealed)
    .bind(&r.namespace)
    .bind(&r.events)
    .bind(&r.format)
    .bind(&r.created_by)
    .bind(r.created_at)
    .bind(r.log_cursor)
    .bind(r.access_cursor)
    .fetch_one(&mut *conn)
    .await?)
}

/// Sets `paused`; false when there is no such subscription.
pub async fn set_paused(conn: &mut AnyConnection, id: i64, paused: bool) -> Result<bool, DbError> {
    // Pausing takes the lease back: a delivery in flight stops at its next step.
    let r =
        sqlx::query("UPDATE webhooks SET paused = $1, next_attempt_at = 0, lease_owner = NULL WHERE id = $2")
            .bind(i64::from(paused))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces the sealed secret; false when there is no such subscription. The lease is taken back, so
/// a delivery in flight under the old secret stops at its next step.
pub async fn set_secret(conn: &mut AnyConnection, id: i64, sealed: &str) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE webhooks SET secret_sealed = $1, lease_owner = NULL WHERE id = $2")
        .bind(sealed)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes a subscription and its dead letters; false when there is none.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, DbError> {
    // The subscription first: a dead letter recorded meanwhile needs its row (and finds none).
    let r = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM webhook_dead WHERE webhook_id = $1").bind(id).execute(&mut *conn).await?;
    Ok(r.rows_affected() == 1)
}

/// Queues every dead letter of `id` for another delivery; returns how many.
pub async fn redeliver(conn: &mut AnyConnection, id: i64) -> Result<u64, DbError> {
    let r = sqlx::query("UPDATE webhook_dead SET retry = 1 WHERE webhook_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE webhooks SET next_attempt_at = 0 WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(r.rows_affected())
}

/// A dead letter.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadRow {
    pub seq: String,
    pub idx: i64,
}

impl Db {
    /// Every subscription, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>, DbError> {
        let sql = format!("SELECT {COLS} FROM webhooks ORDER BY id");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?)
    }

    /// One subscription.
    pub async fn webhook(&self, id: i64) -> Result<Option<WebhookRow>, DbError> {
        let sql = format!("SELECT {COLS} FROM webhooks WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?)
    }

    /// How many dead letters each subscription has: (id, count).
    pub async fn webhook_dead_counts(&self) -> Result<Vec<(i64, i64)>, DbError> {
        Ok(sqlx::query_as("SELECT webhook_id, COUNT(*) FROM webhook_dead GROUP BY webhook_id")
            .fetch_all(self.pool())
            .await?)
    }

    /// Takes (or renews) the delivery lease of subscription `id` for `owner` until `until`, if it is
    /// free, expired, or already `owner`'s. True when held.
    pub async fn webhook_lease(&self, id: i64, owner: &str, now: i64, until: i64) -> Result<bool, DbError> {
        let r = sqlx::query(
            "UPDATE webhooks SET lease_owner = $1, lease_until = $2 \
             WHERE id = $3 AND paused = 0 AND (lease_owner IS NULL OR lease_until < $4 OR lease_owner = $1)",
        )
        .bind(owner)
        .bind(until)
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Extends a lease `owner` still holds on a subscription that is not paused; false when it does
    /// not (taken back by a pause or a secret rotation, or by another replica): never takes one.
    pub async fn webhook_renew(&self, id: i64, owner: &str, until: i64) -> Result<bool, DbError> {
        let r = sqlx::query(
            "UPDATE webhooks SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND paused = 0",
        )
        .bind(until)
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether `owner` holds the lease of `id` and it is not paused: read before each delivery, so a
    /// pause, a removal or a secret rotation stops a batch after the event in flight.
    pub async fn webhook_held(&self, id: i64, owner: &str) -> Result<bool, DbError> {
        let r = sqlx::query("SELECT 1 FROM webhooks WHERE id = $1 AND lease_owner = $2 AND paused = 0")
            .bind(id)
            .bind(owner)
            .fetch_optional(self.pool())
            .await?;
        Ok(r.is_some())
    }

    /// Gives up every lease `owner` holds (at shutdown).
    pub async fn webhook_release(&self, owner: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE webhooks SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives up the lease of `id` if `owner` holds it.
    pub async fn webhook_release_one(&self, id: i64, owner: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE webhooks SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Moves the log (or access) cursor of `id` forward to `to`, counting `delivered` more
    /// deliveries. With `settled` (the event at `to` arrived, or there was nothing to send for it) a
    /// failure of that sequence is over and its state is cleared; moving past events the
    /// subscription does not want leaves it alone, and so does a success in the other sequence.
    ///
    /// Not tied to the lease: what a replica delivered was delivered, even if its lease was taken
    /// back since (a pause, a secret rotation, a takeover); the lease decides who sends, and the
    /// cursor only moves forward. False when the subscription is gone.
    pub async fn webhook_advance(
        &self,
        id: i64,
        access: bool,
        to: i64,
        delivered: i64,
        settled: bool,
    ) -> Result<bool, DbError> {
        let (col, seq) = if access { ("access_cursor", "access") } else { ("log_cursor", "log") };
        // Only forward: a replica's moves may be behind what another holder committed since (and
        // then their success says nothing of its failure).
        let ahead = format!("{col} < $1");
        let clear = if settled {
            format!(
                ", attempts = CASE WHEN failing_seq = $4 AND {ahead} THEN 0 ELSE attempts END, \
                 failing_since = CASE WHEN failing_seq = $4 AND {ahead} THEN NULL ELSE failing_since END, \
                 last_error = CASE WHEN failing_seq = $4 AND {ahead} THEN NULL ELSE last_error END, \
                 failing_seq = CASE WHEN failing_seq = $4 AND {ahead} THEN NULL ELSE failing_seq END"
            )
        } else {
            String::new()
        };
        let sql = format!(
            "UPDATE webhooks SET {col} = CASE WHEN {ahead} THEN $1 ELSE {col} END, \
             delivered = delivered + $2{clear} WHERE id = $3"
        );
        // Not worth an fsync (a cursor move lost in a power cut only resends events, with their
        // ids), and pushes share the database's one writer.
        let mut tx = self.begin_relaxed().await?;
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to).bind(delivered).bind(id);
        let q = if settled { q.bind(seq) } else { q };
        let n = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Clears a failure of sequence `seq` (`open`: the subscription opens again).
    pub async fn webhook_clear_failure(&self, id: i64, owner: &str, seq: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE webhooks SET attempts = 0, failing_since = NULL, last_error = NULL, failing_seq = NULL \
             WHERE id = $1 AND lease_owner = $2 AND failing_seq = $3",
        )
        .bind(id)
        .bind(owner)
        .bind(seq)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failed attempt at an event of sequence `seq`: the next one is due at `next_at`. A
    /// failure in another sequence than the one failing so far starts its own clock.
    #[allow(clippy::too_many_arguments)]
    pub async fn webhook_failed(
        &self,
        id: i64,
        owner: &str,
        seq: &str,
        now: i64,
        next_at: i64,
        error: &str,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE webhooks SET \
             attempts = CASE WHEN failing_seq = $6 THEN attempts + 1 ELSE 1 END, \
             failing_since = CASE WHEN failing_seq = $6 THEN COALESCE(failing_since, $1) ELSE $1 END, \
             failing_seq = $6, next_attempt_at = $2, last_error = $3 WHERE id = $4 AND lease_owner = $5",
        )
        .bind(now)
        .bind(next_at)
        .bind(error)
        .bind(id)
        .bind(owner)
        .bind(seq)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives up on event `idx` of sequence `seq` (`log` or `access`): a dead letter, and the cursor
    /// moves past it, if `owner` still holds the lease (true when it did).
    pub async fn webhook_dead_letter(
        &self,
        id: i64,
        owner: &str,
        seq: &str,
        idx: i64,
        now: i64,
        error: &str,
    ) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let col = if seq == "access" { "access_cursor" } else { "log_cursor" };
        let sql = format!(
            "UPDATE webhooks SET {col} = $1, attempts = 0, failing_since = NULL, failing_seq = NULL, \
             next_attempt_at = 0 WHERE id = $2 AND lease_owner = $3 AND paused = 0 AND {col} < $1"
        );
        let moved =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(idx).bind(id).bind(owner).execute(&mut *tx).await?;
        if moved.rows_affected() == 1 {
            sqlx::query(
                "INSERT INTO webhook_dead (webhook_id, seq, idx, failed_at, error, retry) VALUES ($1, $2, $3, $4, $5, 0)",
            )
            .bind(id)
            .bind(seq)
            .bind(idx)
            .bind(now)
            .bind(error)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(moved.rows_affected() == 1)
    }

    /// The subscriptions with dead letters queued for redelivery.
    pub async fn webhooks_redelivering(&self) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar("SELECT DISTINCT webhook_id FROM webhook_dead WHERE retry = 1")
            .fetch_all(self.pool())
            .await?)
    }

    /// Dead letters of `id` queued for redelivery, oldest first, at most `limit`.
    pub async fn webhook_retries(&self, id: i64, limit: i64) -> Result<Vec<DeadRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT seq, idx FROM webhook_dead WHERE webhook_id = $1 AND retry = 1 ORDER BY failed_at, idx LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// A redelivered dead letter arrived (`delivered`) or failed again (stays dead, no longer queued),
    /// recorded if `owner` still holds the lease of an unpaused subscription: false when it does not
    /// (paused, removed, secret rotated, or taken over), and the redeliveries stop.
    pub async fn webhook_retry_done(
        &self,
        id: i64,
        owner: &str,
        seq: &str,
        idx: i64,
        delivered: bool,
    ) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let held = sqlx::query(
            "UPDATE webhooks SET delivered = delivered + $1 WHERE id = $2 AND lease_owner = $3 AND paused = 0",
        )
        .bind(i64::from(delivered))
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() == 1 {
            let sql = if delivered {
                "DELETE FROM webhook_dead WHERE webhook_id = $1 AND seq = $2 AND idx = $3"
            } else {
                "UPDATE webhook_dead SET retry = 0 WHERE webhook_id = $1 AND seq = $2 AND idx = $3"
            };
            sqlx::query(sql).bind(id).bind(seq).bind(idx).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(held.rows_affected() == 1)
    }

    /// Access-audit records after `after`, at most `limit`: (id, at, actor, action, target).
    pub async fn access_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String, String, String)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, target FROM access_audit WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The newest access-audit record id (0 when none).
    pub async fn access_last(&self) -> Result<i64, DbError> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM access_audit").fetch_one(self.pool()).await?;
        Ok(n.unwrap_or(0))
    }

    /// One access-audit record.
    pub async fn access_one(&self, id: i64) -> Result<Option<(i64, i64, String, String, String)>, DbError> {
        Ok(sqlx::query_as("SELECT id, at, actor, action, target FROM access_audit WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }
}
