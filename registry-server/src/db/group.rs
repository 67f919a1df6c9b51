//! Group commit (docs/decisions.md §28): write jobs that arrive while another batch holds the write
//! lock run together in ONE transaction, each inside its own savepoint, and are answered after its
//! one commit, so a burst of concurrent version creations pays one `BEGIN`, one log lock, one commit
//! and one fsync instead of one each. "Acknowledged = durable and logged" holds: no job's result is
//! handed back before the commit that made it durable, and a failed commit fails every job in it.
//!
//! A job that fails is rolled back to its savepoint (its writes undone, the batch goes on). A batch
//! runs on a task of its own, not on a caller's: a request that goes away (its client hung up) does
//! not cancel the others' work. Batches take the same FIFO write gate and log lock as every other
//! writer, so they interleave with promotions, GC claims and the rest in arrival order.
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Db, DbError, Tx};

/// Jobs one batch takes at most: each answer waits for the batch's slowest job, and other writers
/// (promotions, GC claims) for the whole batch.
const MAX_BATCH: usize = 64;

/// Jobs waiting for the next batch, and whether a task is running batches.
#[derive(Default)]
pub(super) struct Group {
    queue: Mutex<Vec<Box<dyn Job>>>,
    draining: AtomicBool,
    /// Batches committed, and the jobs they carried (`/metrics`).
    batches: AtomicU64,
    jobs: AtomicU64,
}

/// Called once the batch's fate is known: `None` when it committed, else why it did not.
type Done = Box<dyn FnOnce(Option<&DbError>) + Send>;

trait Job: Send {
    /// Runs the job in the batch's transaction: it hands the transaction back, whether it succeeded
    /// (else its savepoint is rolled back), and how to answer it once the batch ends.
    fn run(self: Box<Self>, tx: Tx) -> BoxFuture<'static, (Tx, bool, Done)>;
    /// The job never ran: the batch failed first.
    fn fail(self: Box<Self>, e: &DbError);
}

struct JobOf<F, T, E> {
    f: F,
    answer: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<F, Fut, T, E> Job for JobOf<F, T, E>
where
    F: FnOnce(Tx) -> Fut + Send + 'static,
    Fut: Future<Output = (Tx, Result<T, E>)> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: Tx) -> BoxFuture<'static, (Tx, bool, Done)> {
        let JobOf { f, answer } = *self;
        Box::pin(async move {
            let (tx, r) = f(tx).await;
            let ok = r.is_ok();
            let done: Done = Box::new(move |failed| {
                // A failed batch answers every job with its failure, the failed jobs too: a job's
                // own error may rest on an earlier job's write that is now gone (a label "taken" by
                // a version that never committed), so only the batch's failure is true; a retry is.
                let r = match failed {
                    Some(e) => Err(E::from(again(e))),
                    None => r,
                };
                let _ = answer.send(r); // the caller may have gone: its work stands
            });
            (tx, ok, done)
        })
    }

    fn fail(self: Box<Self>, e: &DbError) {
        let _ = self.answer.send(Err(E::from(again(e))));
    }
}

/// The same failure for each job of a batch (driver errors are not `Clone`).
fn again(e: &DbError) -> DbError {
    match e {
        DbError::NotFound => DbError::NotFound,
        DbError::Conflict => DbError::Conflict,
        DbError::Corrupt(s) => DbError::Corrupt(s.clone()),
        // Busy, not broken: answered 503 with Retry-After, as a writer that waited alone would be.
        DbError::Other(sqlx::Error::PoolTimedOut) => DbError::Other(sqlx::Error::PoolTimedOut),
        other => DbError::Other(sqlx::Error::Protocol(format!("group commit: {other}"))),
    }
}

impl Db {
    /// Batches committed so far and the jobs they carried (failed jobs included).
    pub fn group_commits(&self) -> (u64, u64) {
        (self.group.batches.load(Ordering::Relaxed), self.group.jobs.load(Ordering::Relaxed))
    }

    /// Jobs queued and not yet taken into a batch.
    #[cfg(test)]
    pub(crate) fn group_waiting(&self) -> usize {
        self.group.queue.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs `job` in a write transaction holding the global write lock (as [`Db::begin_logged`]),
    /// shared with the other jobs waiting at the time, and answers once that transaction committed.
    /// The job gets the transaction and hands it back with its result; it must not commit it. An
    /// `Err` result undoes the job's writes (only).
    pub async fn grouped<F, Fut, T, E>(&self, job: F) -> Result<T, E>
    where
        F: FnOnce(Tx) -> Fut + Send + 'static,
        Fut: Future<Output = (Tx, Result<T, E>)> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.group.queue.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(JobOf { f: job, answer }));
        if !self.group.draining.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.clone().drain());
        }
        answered.await.map_err(|_| E::from(DbError::Other(sqlx::Error::WorkerCrashed)))?
    }

    /// Runs batches while jobs wait; the only task doing so (`draining`).
    async fn drain(self) {
        // A panic in a job ends this task: the next job starts another (the panicking batch's jobs
        // are answered with an error as their senders drop).
        struct Draining(Arc<Group>, bool);
        impl Drop for Draining {
            fn drop(&mut self) {
                if self.1 {
                    self.0.draining.store(false, Ordering::SeqCst);
                }
            }
        }
        let mut draining = Draining(self.group.clone(), true);
        loop {
            let waiting = !self.group.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
            if !waiting {
                self.group.draining.store(false, Ordering::SeqCst);
                // A job queued after the look and before the store found `draining` set: take it
                // on unless another task already has.
                let late = !self.group.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
                if !late || self.group.draining.swap(true, Ordering::SeqCst) {
                    draining.1 = false; // the flag is no longer this task's to clear
                    return;
                }
                continue;
            }
            self.batch().await;
        }
    }

    /// One batch: what is waiting once the write lock is held, at most [`MAX_BATCH`] jobs.
    async fn batch(&self) {
        let tx = self.begin_logged().await;
        let jobs: Vec<Box<dyn Job>> = {
            let mut queue = self.group.queue.lock().unwrap_or_else(|p| p.into_inner());
            let n = queue.len().min(MAX_BATCH);
            queue.drain(..n).collect()
        };
        let mut tx = match tx {
            Ok(tx) => tx,
            Err(e) => return jobs.into_iter().for_each(|j| j.fail(&e)),
        };
        // Trust rows are read once per namespace in the batch (`TrustMark::holds`).
        tx.trust_memo = Some(Default::default());
        let mut done: Vec<Done> = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        let mut mark = "SAVEPOINT grouped";
        let broken = loop {
            if let Err(e) = sqlx::raw_sql(mark).execute(&mut *tx).await {
                break Some(DbError::from(e));
            }
            let Some(job) = jobs.next() else { break None };
            // A panicking job breaks the batch (rolled back, every job answered with an error)
            // instead of the task: the jobs queued meanwhile still find it draining.
            let Ok((back, ok, d)) = std::panic::AssertUnwindSafe(job.run(tx)).catch_unwind().await else {
                tracing::error!("a grouped write panicked; its batch is rolled back");
                let e = DbError::Corrupt("a write in this batch failed unexpectedly".into());
                done.into_iter().for_each(|d| d(Some(&e)));
                return jobs.for_each(|j| j.fail(&e));
            };
            tx = back;
            done.push(d);
            // One round trip between two jobs: end this one's savepoint (its writes kept or
            // undone) and open the next one's.
            mark = if ok {
                "RELEASE SAVEPOINT grouped; SAVEPOINT grouped"
            } else {
                "ROLLBACK TO SAVEPOINT grouped; RELEASE SAVEPOINT grouped; SAVEPOINT grouped"
            };
        };
        let outcome = match broken {
            Some(e) => Err(e), // dropping the transaction rolls the whole batch back
            None => tx.commit().await.map_err(DbError::from),
        };
        let failed = outcome.err();
        if failed.is_none() {
            self.group.batches.fetch_add(1, Ordering::Relaxed);
            self.group.jobs.fetch_add(done.len() as u64, Ordering::Relaxed);
        }
        for d in done {
            d(failed.as_ref());
        }
        if let Some(e) = &failed {
            jobs.for_each(|j| j.fail(e));
        }
    }
}
