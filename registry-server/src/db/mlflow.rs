//! Rows behind the MLflow-compatible API: experiments, runs (params, metrics, inputs), logged
//! models, string tags, artifact files and where a registered version came from.
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{Db, DbError};

/// An experiment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExperimentRow {
    /// Its id (MLflow sends it as a string).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Creator.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
}

/// A run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    /// 32 hex characters.
    pub id: String,
    /// Its experiment.
    pub experiment_id: i64,
    /// Run name.
    pub name: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, `KILLED`, `SCHEDULED`.
    pub status: String,
    /// Unix ms.
    pub start_time: i64,
    /// Unix ms, once ended.
    pub end_time: Option<i64>,
    /// The credential that created it (its owner).
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
}

/// A metric point as stored (NaN as a flag).
#[derive(sqlx::FromRow)]
struct StoredMetric {
    key: String,
    value: f64,
    is_nan: i64,
    timestamp: i64,
    step: i64,
}

impl From<StoredMetric> for MetricRow {
    fn from(m: StoredMetric) -> Self {
        MetricRow {
            key: m.key,
            value: if m.is_nan != 0 { f64::NAN } else { m.value },
            timestamp: m.timestamp,
            step: m.step,
        }
    }
}

/// One metric point.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// Name.
    pub key: String,
    /// Value.
    pub value: f64,
    /// Unix ms.
    pub timestamp: i64,
    /// Step.
    pub step: i64,
}

/// A dataset input of a run.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InputRow {
    /// Dataset name.
    pub name: String,
    /// The digest MLflow computed or the caller gave (often a short hash).
    pub digest: String,
    /// `http`, `s3`, `local`, ...
    pub source_type: String,
    /// JSON text naming where it lives (`{"url": ...}` or `{"uri": ...}`).
    pub source: String,
    /// `mlflow.data.context` (`training`, `eval`, ...), or empty.
    pub context: String,
}

/// A logged model.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoggedModelRow {
    /// `m-` and 32 hex characters.
    pub id: String,
    /// Its experiment.
    pub experiment_id: i64,
    /// Name within the run (`model`).
    pub name: String,
    /// The run that logged it.
    pub source_run_id: Option<String>,
    /// `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY`, `LOGGED_MODEL_UPLOAD_FAILED`.
    pub status: String,
    /// JSON array of `{key, value}`.
    pub params: String,
    /// Owner.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// An artifact file: a path under a root naming a blob.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ArtifactRow {
    /// Path relative to the root.
    pub path: String,
    /// Hex SHA-256.
    pub digest: String,
    /// Bytes.
    pub size: i64,
}

/// Tag and annotation kinds in `mlflow_tags`.
pub mod kind {
    /// A run's tags.
    pub const RUN: &str = "run";
    /// A run's logged-model outputs (`key`: model id, `value`: step).
    pub const RUN_OUTPUT: &str = "run_output";
    /// A logged model's tags.
    pub const LOGGED_MODEL: &str = "logged_model";
    /// A registered model's tags (owner: `NS/NAME`).
    pub const MODEL: &str = "model";
    /// A version's tags (owner: the version id).
    pub const VERSION: &str = "version";
    /// A registered model's description (key `""`).
    pub const MODEL_DESCRIPTION: &str = "description.model";
    /// A version's description (key `""`).
    pub const VERSION_DESCRIPTION: &str = "description.version";
}

/// What recording an artifact file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactInsert {
    /// Recorded.
    Inserted,
    /// The path already names a file (compare digests: the same is a retry).
    Exists,
    /// The logged model is no longer pending; nothing recorded.
    Finalized,
    /// The file's blob is not recorded any more (garbage collection took it after it was stored, or
    /// is taking it); nothing recorded: the bytes must be sent again.
    BlobGone,
}

/// Where a version registered through MLflow came from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRow {
    /// The version.
    pub version_id: i64,
    /// As the client gave it (`models:/m-...`, `runs:/...`).
    pub source: String,
    /// The run.
    pub run_id: Option<String>,
    /// The logged model.
    pub model_id: Option<String>,
}

/// Everything a version shows through MLflow, read in one query (the hot path of every deploy):
/// its row without the manifest, lineage and metadata texts, its attestation count, MLflow source,
/// description, aliases and annotation tags (the last two as JSON arrays).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionFacts {
    /// Internal id.
    pub id: i64,
    /// Namespace.
    pub namespace: String,
    /// Model name.
    pub name: String,
    /// Label.
    pub version: String,
    /// Hex manifest digest.
    pub manifest_digest: String,
    /// Hex OMS root digest.
    pub oms_root_digest: String,
    /// Pusher.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Index of its `version.created` entry.
    pub log_index: Option<i64>,
    /// Non-zero when quarantined.
    pub quarantined: i64,
    /// Non-zero when corrupted.
    pub corrupted: i64,
    /// Sequence number.
    pub seq: i64,
    /// How many attestations it has.
    pub attestations: i64,
    /// Its MLflow source, if registered through MLflow.
    pub source: Option<String>,
    /// Its run, if registered through MLflow from one.
    pub run_id: Option<String>,
    /// Its logged model, if registered from one.
    pub model_id: Option<String>,
    /// Its description annotation.
    pub description: Option<String>,
    /// JSON array of alias names.
    pub aliases: Option<String>,
    /// JSON array of `[key, value]` annotation tags.
    pub tags: Option<String>,
}

/// Which version [`Db::mlflow_version`] reads.
#[derive(Debug, Clone, Copy)]
pub enum VersionKey<'a> {
    /// The one an alias of a model points at.
    Alias(&'a registry_core::ModelName, &'a str),
    /// By sequence number.
    Seq(&'a registry_core::ModelName, i64),
    /// By internal id.
    Id(i64),
}

/// Most rows one listing returns.
pub const MAX_ROWS: i64 = 10_000;

impl Db {
    /// An experiment by name.
    pub async fn mlflow_experiment_by_name(&self, name: &str) -> Result<Option<ExperimentRow>, DbError> {
        Ok(sqlx::query_as("SELECT id, name, created_by, created_at FROM mlflow_experiments WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?)
    }

    /// An experiment by id.
    pub async fn mlflow_experiment(&self, id: i64) -> Result<Option<ExperimentRow>, DbError> {
        Ok(sqlx::query_as("SELECT id, name, created_by, created_at FROM mlflow_experiments WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Experiments, by id, at most `limit`.
    pub async fn mlflow_experiments(&self, limit: i64) -> Result<Vec<ExperimentRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_by, created_at FROM mlflow_experiments ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Creates an experiment; `Conflict` if the name is taken. Under the global write lock: the id is
    /// MAX+1, and two creations computing the same one would make the second look like a taken name.
    pub async fn mlflow_experiment_create(&self, name: &str, by: &str, at: i64) -> Result<i64, DbError> {
        let mut tx = self.begin_logged().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO mlflow_experiments (id, name, created_by, created_at) \
             SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3 FROM mlflow_experiments RETURNING id",
        )
        .bind(name)
        .bind(by)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Inserts a run with its first tags (one transaction: never a run without them).
    pub async fn mlflow_run_insert(&self, r: &RunRow, tags: &[(String, String)]) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO mlflow_runs (id, experiment_id, name, status, start_time, end_time, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(r.experiment_id)
        .bind(&r.name)
        .bind(&r.status)
        .bind(r.start_time)
        .bind(r.end_time)
        .bind(&r.created_by)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await?;
        tags_set(&mut tx, kind::RUN, &r.id, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A run.
    pub async fn mlflow_run(&self, id: &str) -> Result<Option<RunRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, experiment_id, name, status, start_time, end_time, created_by, created_at \
             FROM mlflow_runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Runs of some experiments created by `by` (`None`: anyone's), newest first.
    pub async fn mlflow_runs(
        &self,
        experiments: &[i64],
        by: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, DbError> {
        let mut out = Vec::new();
        for e in experiments {
            let rows: Vec<RunRow> = sqlx::query_as(
                "SELECT id, experiment_id, name, status, start_time, end_time, created_by, created_at \
                 FROM mlflow_runs WHERE experiment_id = $1 AND ($2 = '' OR created_by = $2) \
                 ORDER BY created_at DESC, id LIMIT $3",
            )
            .bind(*e)
            .bind(by.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
            out.extend(rows);
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// Updates a run's status, end time and name.
    pub async fn mlflow_run_update(
        &self,
        id: &str,
        status: &str,
        end_time: Option<i64>,
        name: &str,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE mlflow_runs SET status = $1, end_time = COALESCE($2, end_time), name = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(end_time)
        .bind(name)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A run's parameters, by key.
    pub async fn mlflow_params(&self, run: &str) -> Result<Vec<(String, String)>, DbError> {
        Ok(sqlx::query_as("SELECT key, value FROM mlflow_params WHERE run_id = $1 ORDER BY key")
            .bind(run)
            .fetch_all(self.pool())
            .await?)
    }

    /// Logs parameters: new keys are added, a key logged again with its value is a no-op, and a key
    /// logged with another value refuses the whole batch (`Conflict`, nothing written).
    pub async fn mlflow_params_log(&self, run: &str, params: &[(String, String)]) -> Result<(), DbError> {
        // In key order: two batches on one run then wait for each other's keys in one order only
        // (in request order they could deadlock on PostgreSQL).
        let mut params: Vec<&(String, String)> = params.iter().collect();
        params.sort();
        let mut tx = self.begin_write().await?;
        for (k, v) in params {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT value FROM mlflow_params WHERE run_id = $1 AND key = $2")
                    .bind(run)
                    .bind(k)
                    .fetch_optional(&mut *tx)
                    .await?;
            match stored {
                Some(s) if s == *v => {}
                Some(_) => return Err(DbError::Conflict),
                None => {
                    sqlx::query("INSERT INTO mlflow_params (run_id, key, value) VALUES ($1, $2, $3)")
                        .bind(run)
                        .bind(k)
                        .bind(v)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Logs metric points (an identical point again is one point).
    pub async fn mlflow_metrics_log(&self, run: &str, points: &[MetricRow]) -> Result<(), DbError> {
        // In one order (key, step, timestamp), for the reason mlflow_params_log sorts.
        let mut points: Vec<&MetricRow> = points.iter().collect();
        points.sort_by(|a, b| (&a.key, a.step, a.timestamp).cmp(&(&b.key, b.step, b.timestamp)));
        let mut tx = self.begin_write().await?;
        for p in points {
            // As MLflow's server: NaN kept (as a flag), infinities clamped to the largest doubles.
            let (value, is_nan) =
                if p.value.is_nan() { (0.0, 1i64) } else { (p.value.clamp(f64::MIN, f64::MAX), 0) };
            sqlx::query(
                "INSERT INTO mlflow_metrics (run_id, key, value, is_nan, timestamp, step) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(run)
            .bind(&p.key)
            .bind(value)
            .bind(is_nan)
            .bind(p.timestamp)
            .bind(p.step)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Each metric's current value, as MLflow defines it: the point with the highest step, then
    /// timestamp, then value.
    pub async fn mlflow_metrics_latest(&self, run: &str) -> Result<Vec<MetricRow>, DbError> {
        let rows: Vec<StoredMetric> = sqlx::query_as(
            "SELECT key, value, is_nan, timestamp, step FROM (SELECT key, value, is_nan, timestamp, step, \
             ROW_NUMBER() OVER (PARTITION BY key ORDER BY step DESC, timestamp DESC, is_nan, value DESC) AS rn \
             FROM mlflow_metrics WHERE run_id = $1) t WHERE rn = 1 ORDER BY key",
        )
        .bind(run)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(MetricRow::from).collect())
    }

    /// A metric's history in (step, timestamp) order, from row `offset`, at most `limit`.
    pub async fn mlflow_metric_history(
        &self,
        run: &str,
        key: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<MetricRow>, DbError> {
        let rows: Vec<StoredMetric> = sqlx::query_as(
            "SELECT key, value, is_nan, timestamp, step FROM mlflow_metrics WHERE run_id = $1 AND key = $2 \
             ORDER BY step, timestamp, is_nan, value LIMIT $3 OFFSET $4",
        )
        .bind(run)
        .bind(key)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(MetricRow::from).collect())
    }

    /// Records dataset inputs (the same dataset again is one input).
    pub async fn mlflow_inputs_log(&self, run: &str, inputs: &[InputRow]) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        for i in inputs {
            sqlx::query(
                "INSERT INTO mlflow_inputs (run_id, name, digest, source_type, source, context) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(run)
            .bind(&i.name)
            .bind(&i.digest)
            .bind(&i.source_type)
            .bind(&i.source)
            .bind(&i.context)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A run's dataset inputs.
    pub async fn mlflow_inputs(&self, run: &str) -> Result<Vec<InputRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT name, digest, source_type, source, context FROM mlflow_inputs WHERE run_id = $1 \
             ORDER BY name, digest",
        )
        .bind(run)
        .fetch_all(self.pool())
        .await?)
    }

    /// Sets tags of `(kind, owner)` (insert or replace each key).
    pub async fn mlflow_tags_set(
        &self,
        kind: &str,
        owner: &str,
        tags: &[(String, String)],
    ) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        tags_set(&mut tx, kind, owner, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tags of `(kind, owner)`, by key.
    pub async fn mlflow_tags(&self, kind: &str, owner: &str) -> Result<Vec<(String, String)>, DbError> {
        Ok(sqlx::query_as("SELECT key, value FROM mlflow_tags WHERE kind = $1 AND owner = $2 ORDER BY key")
            .bind(kind)
            .bind(owner)
            .fetch_all(self.pool())
            .await?)
    }

    /// Inserts a logged model with its first tags (one transaction).
    pub async fn mlflow_logged_model_insert(
        &self,
        m: &LoggedModelRow,
        tags: &[(String, String)],
    ) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO mlflow_logged_models (id, experiment_id, name, source_run_id, status, params, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&m.id)
        .bind(m.experiment_id)
        .bind(&m.name)
        .bind(&m.source_run_id)
        .bind(&m.status)
        .bind(&m.params)
        .bind(&m.created_by)
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut *tx)
        .await?;
        tags_set(&mut tx, kind::LOGGED_MODEL, &m.id, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A logged model.
    pub async fn mlflow_logged_model(&self, id: &str) -> Result<Option<LoggedModelRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, experiment_id, name, source_run_id, status, params, created_by, created_at, \
             updated_at FROM mlflow_logged_models WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Logged models of an experiment created by `by` (`None`: anyone's), newest first.
    pub async fn mlflow_logged_models(
        &self,
        experiment: i64,
        by: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LoggedModelRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, experiment_id, name, source_run_id, status, params, created_by, created_at, \
             updated_at FROM mlflow_logged_models WHERE experiment_id = $1 AND ($2 = '' OR created_by = $2) \
             ORDER BY created_at DESC, id LIMIT $3",
        )
        .bind(experiment)
        .bind(by.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Sets a logged model's status, unless it is ready and `status` is another: a ready model's
    /// files are immutable, so readiness is never taken back, whatever finalize calls race (checked
    /// in the statement itself). Returns whether it was set.
    pub async fn mlflow_logged_model_status(&self, id: &str, status: &str, at: i64) -> Result<bool, DbError> {
        let r = sqlx::query(
            "UPDATE mlflow_logged_models SET status = $1, updated_at = $2 \
             WHERE id = $3 AND (status <> 'LOGGED_MODEL_READY' OR $1 = 'LOGGED_MODEL_READY')",
        )
        .bind(status)
        .bind(at)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The file at `path` under `root`.
    pub async fn mlflow_artifact(&self, root: &str, path: &str) -> Result<Option<ArtifactRow>, DbError> {
        Ok(sqlx::query_as("SELECT path, digest, size FROM mlflow_artifacts WHERE root = $1 AND path = $2")
            .bind(root)
            .bind(path)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Records a file (files are write-once). With `pending_model`, only while that logged model is
    /// still pending: the check takes the model's row lock (an `UPDATE`), so it serialises with
    /// [`Db::mlflow_logged_model_status`] on both databases. Only while the file's blob is still
    /// recorded, too: the check holds its row (GC skips a held row, and a row GC deleted is not
    /// found), so a file never names bytes garbage collection removed between upload and record.
    pub async fn mlflow_artifact_insert(
        &self,
        root: &str,
        file: &ArtifactRow,
        pending_model: Option<&str>,
        by: &str,
        at: i64,
    ) -> Result<ArtifactInsert, DbError> {
        let mut tx = self.begin_write().await?;
        if let Some(m) = pending_model {
            let locked = sqlx::query(
                "UPDATE mlflow_logged_models SET updated_at = $1 WHERE id = $2 AND status = 'LOGGED_MODEL_PENDING'",
            )
            .bind(at)
            .bind(m)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if locked == 0 {
                return Ok(ArtifactInsert::Finalized);
            }
        }
        let hold = if self.backend() == super::Backend::Postgres { " FOR KEY SHARE" } else { "" };
        let blob: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT size FROM blobs WHERE digest = $1 AND lost_at = 0{hold}"
        )))
        .bind(&file.digest)
        .fetch_optional(&mut *tx)
        .await?;
        if blob.is_none() {
            return Ok(ArtifactInsert::BlobGone);
        }
        let n = sqlx::query(
            "INSERT INTO mlflow_artifacts (root, path, digest, size, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(root)
        .bind(&file.path)
        .bind(&file.digest)
        .bind(file.size)
        .bind(by)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if n == 1 { ArtifactInsert::Inserted } else { ArtifactInsert::Exists })
    }

    /// Files under `root` whose path starts with `prefix` (empty: all), by path, at most `limit`.
    pub async fn mlflow_artifacts(
        &self,
        root: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<ArtifactRow>, DbError> {
        let chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        Ok(sqlx::query_as(
            "SELECT path, digest, size FROM mlflow_artifacts WHERE root = $1 AND substr(path, 1, CAST($2 AS INTEGER)) = $3 \
             ORDER BY path LIMIT $4",
        )
        .bind(root)
        .bind(chars)
        .bind(prefix)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Where version `id` came from, if it was registered through MLflow.
    pub async fn mlflow_source(&self, version_id: i64) -> Result<Option<SourceRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT version_id, source, run_id, model_id FROM mlflow_sources WHERE version_id = $1",
        )
        .bind(version_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// One version's [`VersionFacts`], in one query.
    pub async fn mlflow_version(&self, key: VersionKey<'_>) -> Result<Option<VersionFacts>, DbError> {
        let (aliases, tags) = match self.backend() {
            super::Backend::Sqlite => {
                ("json_group_array(a.name)", "json_group_array(json_array(t.key, t.value))")
            }
            super::Backend::Postgres => (
                "CAST(COALESCE(json_agg(a.name), '[]') AS TEXT)",
                "CAST(COALESCE(json_agg(json_build_array(t.key, t.value)), '[]') AS TEXT)",
            ),
        };
        let cond = match key {
            VersionKey::Alias(..) => {
                "m.namespace = $1 AND m.name = $2 AND v.id = \
                 (SELECT al.version_id FROM aliases al WHERE al.model_id = m.id AND al.name = $3)"
            }
            VersionKey::Seq(..) => "m.namespace = $1 AND m.name = $2 AND v.seq = $3",
            VersionKey::Id(_) => "v.id = $1",
        };
        let sql = format!(
            "SELECT v.id, m.namespace, m.name, v.version, v.manifest_digest, v.oms_root_digest, v.created_by, \
             v.created_at, v.log_index, v.quarantined, v.corrupted, v.seq, \
             (SELECT COUNT(*) FROM attestations at WHERE at.version_id = v.id) AS attestations, \
             s.source, s.run_id, s.model_id, \
             (SELECT d.value FROM mlflow_tags d WHERE d.kind = 'description.version' \
              AND d.owner = CAST(v.id AS TEXT) AND d.key = '') AS description, \
             (SELECT {aliases} FROM aliases a WHERE a.version_id = v.id) AS aliases, \
             (SELECT {tags} FROM mlflow_tags t WHERE t.kind = 'version' AND t.owner = CAST(v.id AS TEXT)) AS tags \
             FROM versions v JOIN models m ON m.id = v.model_id LEFT JOIN mlflow_sources s ON s.version_id = v.id \
             WHERE {cond}"
        );
        let q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        let q = match key {
            VersionKey::Alias(m, a) => q.bind(m.namespace()).bind(m.name()).bind(a.to_owned()),
            VersionKey::Seq(m, n) => q.bind(m.namespace()).bind(m.name()).bind(n),
            VersionKey::Id(id) => q.bind(id),
        };
        Ok(q.fetch_optional(self.pool()).await?)
    }

    /// Versions registered from run `run_id`.
    pub async fn mlflow_versions_of_run(&self, run_id: &str) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar("SELECT version_id FROM mlflow_sources WHERE run_id = $1 ORDER BY version_id")
            .bind(run_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Versions registered from logged model `model_id`.
    pub async fn mlflow_versions_of_logged_model(&self, model_id: &str) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT version_id FROM mlflow_sources WHERE model_id = $1 ORDER BY version_id",
        )
        .bind(model_id)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Sets tags inside a transaction.
pub async fn tags_set(
    conn: &mut AnyConnection,
    kind: &str,
    owner: &str,
    tags: &[(String, String)],
) -> Result<(), DbError> {
    // In key order (stable: a key given twice still ends with its last value), so two writers of one
    // owner's tags wait for each other in one order only.
    let mut tags: Vec<&(String, String)> = tags.iter().collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in tags {
        sqlx::query(
            "INSERT INTO mlflow_tags (kind, owner, key, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, owner, key) DO UPDATE SET value = excluded.value",
        )
        .bind(kind)
        .bind(owner)
        .bind(k)
        .bind(v)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes one tag inside a transaction; `false` if there was none.
pub async fn tag_delete(
    conn: &mut AnyConnection,
    kind: &str,
    owner: &str,
    key: &str,
) -> Result<bool, DbError> {
    let n = sqlx::query("DELETE FROM mlflow_tags WHERE kind = $1 AND owner = $2 AND key = $3")
        .bind(kind)
        .bind(owner)
        .bind(key)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Records where a version registered through MLflow came from (in its publishing transaction).
pub async fn source_insert(conn: &mut AnyConnection, s: &SourceRow) -> Result<(), DbError> {
    sqlx::query("INSERT INTO mlflow_sources (version_id, source, run_id, model_id) VALUES ($1, $2, $3, $4)")
        .bind(s.version_id)
        .bind(&s.source)
        .bind(&s.run_id)
        .bind(&s.model_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
