//! The one allocator setting the server makes for itself (docs/decisions.md §34): freed memory goes
//! back to the OS at once.
//!
//! The process's allocator is mimalloc (regorus's build of it, which the Rego memory budget needs).
//! mimalloc returns a freed span to the OS 10 ms after the fact, and only on the freeing thread's next
//! allocation. The server frees most of its buffers on threads that go idle right after: blocking-pool
//! threads that read or wrote a chunk of a blob. So whatever those threads freed last stays resident,
//! and a push or pull of 1 GiB held 86–99 MiB, where 64 MiB is the target. With no delay (and the
//! stream buffers reused, §34), 39–41 MiB (docs/benchmarks.md, "Freed memory returned at once").
//!
//! mimalloc reads its options from the environment before `main` runs. Setting the option afterwards
//! needs its C API, so this module is the crate's only `unsafe` code: two calls into a documented
//! function of a library that is linked already, with integer arguments.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};

/// `mi_option_purge_delay` in mimalloc 2.2's `mi_option_t` (`include/mimalloc.h`, the 16th option).
/// The test below checks the index against the option's documented neighbours.
const PURGE_DELAY: c_int = 15;

// SAFETY: these are mimalloc's `mi_option_get(mi_option_t)` and `mi_option_set(mi_option_t, long)`
// (`mi_decl_export`, in the static library regorus-mimalloc-sys builds from `static.c` and links
// into this binary). `mi_option_t` is a C enum, passed as an `int`. Both check the index against
// `_mi_option_last`; `mi_option_set` is a plain store, so it is called before other threads exist.
unsafe extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// The environment variable through which an operator sets the delay, which then takes precedence.
pub const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Did the operator choose a delay? mimalloc reads `MIMALLOC_PURGE_DELAY` or its older name
/// `MIMALLOC_RESET_DELAY`, either in any case (`options.c`, `prim.c`).
fn operator_chose<K: AsRef<std::ffi::OsStr>>(mut names: impl Iterator<Item = K>) -> bool {
    names.any(|k| {
        k.as_ref().to_str().is_some_and(|k| {
            k.eq_ignore_ascii_case(PURGE_DELAY_ENV) || k.eq_ignore_ascii_case("MIMALLOC_RESET_DELAY")
        })
    })
}

/// Has the allocator give freed memory back to the OS at once, unless the operator chose a delay
/// with `MIMALLOC_PURGE_DELAY`. Returns the delay in effect, in milliseconds. Call it before any
/// other thread starts: mimalloc stores the option without synchronisation.
pub fn return_freed_memory_at_once() -> c_long {
    if !operator_chose(std::env::vars_os().map(|(k, _)| k)) {
        // SAFETY: see the declaration; `PURGE_DELAY` is checked by `purge_delay_is_the_option_set`.
        unsafe { mi_option_set(PURGE_DELAY, 0) };
    }
    purge_delay()
}

/// The allocator's purge delay now, in milliseconds.
pub fn purge_delay() -> c_long {
    // SAFETY: see the declaration.
    unsafe { mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index is mimalloc 2.2's: its neighbours hold their documented defaults (the first N
    /// segments not eagerly committed: 1; the purge delay: 10 ms; NUMA nodes: 0 = all), and setting
    /// it is what `purge_delay` reads back. A mimalloc whose option list moved fails here.
    #[test]
    fn purge_delay_is_the_option_set() {
        assert!(
            std::env::var_os(PURGE_DELAY_ENV).is_none()
                && std::env::var_os("MIMALLOC_EAGER_COMMIT_DELAY").is_none(),
            "run this test without MIMALLOC_* options in the environment"
        );
        // SAFETY: see the declaration; 14 and 16 are below `_mi_option_last` (38).
        let (before, at, after) = unsafe {
            (mi_option_get(PURGE_DELAY - 1), mi_option_get(PURGE_DELAY), mi_option_get(PURGE_DELAY + 1))
        };
        assert_eq!((before, at, after), (1, 10, 0), "eager_commit_delay, purge_delay, use_numa_nodes");
        assert_eq!(return_freed_memory_at_once(), 0);
        assert_eq!(purge_delay(), 0);
    }

    /// Whatever spelling mimalloc itself would read counts as the operator's choice.
    #[test]
    fn an_operators_delay_is_seen_in_any_spelling() {
        for k in
            ["MIMALLOC_PURGE_DELAY", "mimalloc_purge_delay", "MIMALLOC_RESET_DELAY", "Mimalloc_Reset_Delay"]
        {
            assert!(operator_chose(["PATH", k].into_iter()), "{k}");
        }
        assert!(!operator_chose(["PATH", "MIMALLOC_PURGE_DELAYS", "MIMALLOC_VERBOSE"].into_iter()));
    }
}
