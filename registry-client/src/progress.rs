//! Progress reporting, so the library stays free of terminal code: the CLI plugs in progress bars.

/// Receives progress of a long operation, in bytes.
pub trait Progress: Send + Sync {
    /// A new phase (`hashing`, `uploading`, ...) of `total` bytes starts.
    fn start(&self, phase: &str, total: u64);
    /// `n` more bytes done.
    fn inc(&self, n: u64);
    /// The phase is over.
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}
