//! Hashing files in parallel: one thread per core, largest files first, 1 MiB reads, constant memory.
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use registry_core::{Digest, Hasher};

use crate::ClientError;
use crate::progress::Progress;
use crate::walk::LocalFile;

const BUF: usize = 1024 * 1024;

/// Hashes one file; returns its digest and size.
pub fn hash_file(path: &Path, progress: &dyn Progress) -> Result<(Digest, u64), ClientError> {
    let mut f = std::fs::File::open(path).map_err(ClientError::io(path))?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ClientError::io(path)(e)),
        };
        h.update(&buf[..n]);
        progress.inc(n as u64);
    }
    let size = h.len();
    Ok((h.finalize(), size))
}

/// Number of hashing threads: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Hashes `files` on `threads` threads, largest first, calling `done(index, digest)` as each file
/// finishes (so a caller can start uploading before the last file is hashed). A file whose size
/// changed since it was walked is an error (something is still writing it).
pub fn hash_each(
    files: &[LocalFile],
    progress: &dyn Progress,
    threads: usize,
    done: &(dyn Fn(usize, Digest) + Sync),
) -> Result<(), ClientError> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].size));
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<(), ClientError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.clamp(1, files.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    while !failed.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order.get(k) else { return Ok(()) };
                        let f = &files[i];
                        let r = hash_file(&f.abs, progress).and_then(|(d, size)| {
                            if size == f.size {
                                Ok(d)
                            } else {
                                Err(ClientError::Input(format!(
                                    "{}: size changed while hashing ({} -> {size} bytes); is something still writing it?",
                                    f.abs.display(),
                                    f.size
                                )))
                            }
                        });
                        match r {
                            Ok(d) => done(i, d),
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(ClientError::Input("hash thread panicked".into()))))
            .collect()
    });
    results.into_iter().collect()
}

/// Hashes `files` on `threads` threads; the digests come back in the order of `files`.
pub fn hash_files(
    files: &[LocalFile],
    progress: Arc<dyn Progress>,
    threads: usize,
) -> Result<Vec<Digest>, ClientError> {
    progress.start("hashing", files.iter().map(|f| f.size).sum());
    let out = std::sync::Mutex::new(vec![Digest::from_bytes([0; 32]); files.len()]);
    let r = hash_each(files, progress.as_ref(), threads, &|i, d| {
        if let Ok(mut o) = out.lock() {
            o[i] = d;
        }
    });
    progress.finish();
    r?;
    out.into_inner().map_err(|_| ClientError::Input("hash results poisoned".into()))
}
