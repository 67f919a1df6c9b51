//! Bounds on Rego work (promotion policies are admin-written code run on every promotion): one
//! evaluation or compilation at a time, each with a memory budget that regorus checks inside its
//! builtins too, so `numbers.range(1, 3e7)` stops at the budget instead of allocating 700 MB; time is
//! bounded by regorus's execution timer between steps and by the caller's deadline around it all.
//!
//! The budget uses regorus's allocator-backed limit (feature `allocator-memory-limits`, which makes
//! its mimalloc shim the process's allocator): a process-wide ceiling on live bytes, set here to the
//! bytes live when the work starts plus the budget, and lifted when it ends. Work is serialized so that
//! two budgets never overlap; what other threads allocate meanwhile counts against it too, which can
//! only make a policy deny (never allow) under memory pressure.
//!
//! Policy modules are parsed and analysed once: [`Exclusive::policy`] keeps prepared engines by the
//! SHA-256 of their text (so an entry never goes stale) and hands out copies, which regorus resets at
//! every query (input, rule values, builtin results). Every engine is built one way ([`EVAL_LIMIT`]
//! timer, bounded builtins), so the text is the whole key.
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use registry_core::Digest;

/// Bytes a policy evaluation (or compilation) may add to the process's live memory.
pub const MEMORY_BUDGET: u64 = 128 << 20;

/// How long one policy query may run (regorus's execution timer, checked between steps).
pub const EVAL_LIMIT: Duration = Duration::from_millis(500);

/// Live bytes the prepared engines may hold together (each charged what building it added, at least
/// its text); past it, or past [`MAX_PREPARED`] engines, the lot is dropped and rebuilt as used.
pub const PREPARED_BYTES: u64 = 32 << 20;

/// Prepared engines kept at most.
pub const MAX_PREPARED: usize = 64;

/// Prepared engines by module digest, with what each holds; kept with the right to run regorus work.
struct Prepared {
    engines: BTreeMap<Digest, regorus::Engine>,
    bytes: u64,
}

static LOCK: Mutex<Prepared> = Mutex::new(Prepared { engines: BTreeMap::new(), bytes: 0 });

/// The right to run regorus work, held by one caller at a time; [`Exclusive::budget`] sets the ceiling.
pub struct Exclusive {
    prepared: MutexGuard<'static, Prepared>,
}

impl Exclusive {
    /// From now until the work ends, at most `bytes` more live bytes than now.
    pub fn budget(&self, bytes: u64) {
        let live = regorus_mimalloc::global_allocation_stats_snapshot().allocated;
        regorus::set_global_memory_limit(Some(live.saturating_add(bytes)));
    }

    /// An engine for the policy module `text`, parsed and analysed (prepared) once per text under
    /// [`MEMORY_BUDGET`], with the [`EVAL_LIMIT`] timer and the bounded builtins; a copy carrying no
    /// input. Returns with no ceiling set, whatever happened.
    pub fn policy(&mut self, text: &str) -> anyhow::Result<regorus::Engine> {
        let key = Digest::of(text.as_bytes());
        if let Some(e) = self.prepared.engines.get(&key) {
            return Ok(e.clone());
        }
        let before = regorus_mimalloc::global_allocation_stats_snapshot().allocated;
        self.budget(MEMORY_BUDGET);
        let built = prepare(text);
        regorus::set_global_memory_limit(None);
        let engine = built?;
        // What building it added (other threads' allocations meanwhile blur this; it is a charge).
        let after = regorus_mimalloc::global_allocation_stats_snapshot().allocated;
        let cost = after.saturating_sub(before).max(text.len() as u64);
        let p = &mut *self.prepared;
        if p.engines.len() >= MAX_PREPARED || p.bytes.saturating_add(cost) > PREPARED_BYTES {
            p.engines.clear();
            p.bytes = 0;
        }
        if cost <= PREPARED_BYTES {
            p.engines.insert(key, engine.clone());
            p.bytes += cost;
        }
        Ok(engine)
    }
}

/// A promotion policy's engine: the timer, the bounded builtins, the module, prepared (analysis,
/// schedule, rule index: any query does it, and `true` reads no rule).
fn prepare(text: &str) -> anyhow::Result<regorus::Engine> {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: EVAL_LIMIT,
        check_interval: std::num::NonZeroU32::new(16).unwrap_or(std::num::NonZeroU32::MIN),
    });
    install_bounded_builtins(&mut engine)?;
    engine.add_policy("policy.rego".into(), text.into())?;
    engine.eval_query("true".into(), false)?;
    Ok(engine)
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        regorus::set_global_memory_limit(None);
    }
}

/// Runs regorus work `f` alone (no ceiling until `f` sets one with [`Exclusive::budget`]; loading a
/// policy and its input usually comes first, unbudgeted, then the evaluation under the budget).
pub fn exclusive<T>(f: impl FnOnce(&mut Exclusive) -> T) -> T {
    let prepared = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    regorus::set_global_memory_limit(None);
    let mut ex = Exclusive { prepared };
    f(&mut ex)
}

/// Most elements `numbers.range` and `numbers.range_step` may produce. regorus sizes their array from
/// the arguments before any budget check can run (`numbers.range(1, 1e15)` asked the allocator for
/// 24 PB and aborted the process), so the server replaces both with bounded equivalents.
pub const MAX_RANGE: u64 = 1_000_000;

fn integer(name: &str, v: &regorus::Value) -> anyhow::Result<i64> {
    if let Ok(n) = v.as_i64() {
        return Ok(n);
    }
    match v.as_f64() {
        Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => anyhow::bail!("{name}: operand must be an integer"),
    }
}

/// `a`, `a ± step`, ... up to and including `b` (descending when `b < a`), as OPA defines them.
fn range(name: &str, a: &regorus::Value, b: &regorus::Value, step: i64) -> anyhow::Result<regorus::Value> {
    let (a, b) = (integer(name, a)?, integer(name, b)?);
    anyhow::ensure!(step > 0, "{name}: step must be a positive integer");
    let span = (i128::from(b) - i128::from(a)).unsigned_abs() / step.unsigned_abs() as u128 + 1;
    anyhow::ensure!(
        span <= u128::from(MAX_RANGE),
        "{name}: {span} elements is over this server's limit of {MAX_RANGE}"
    );
    let dir = if b >= a { step } else { -step };
    let out: Vec<regorus::Value> = (0..span as i64).map(|i| regorus::Value::from(a + dir * i)).collect();
    Ok(regorus::Value::from(out))
}

/// Puts the bounded `numbers.range` and `numbers.range_step` in place of regorus's (extensions are
/// looked up before builtins).
pub fn install_bounded_builtins(engine: &mut regorus::Engine) -> anyhow::Result<()> {
    engine.add_extension(
        "numbers.range".into(),
        2,
        Box::new(|a: Vec<regorus::Value>| range("numbers.range", &a[0], &a[1], 1)),
    )?;
    engine.add_extension(
        "numbers.range_step".into(),
        3,
        Box::new(|a: Vec<regorus::Value>| {
            let step = integer("numbers.range_step", &a[2])?;
            range("numbers.range_step", &a[0], &a[1], step)
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(query: &str) -> anyhow::Result<String> {
        let mut e = regorus::Engine::new();
        install_bounded_builtins(&mut e)?;
        e.add_policy("p.rego".into(), format!("package p\nimport rego.v1\nx := {query}\n"))?;
        let r = e.eval_query("data.p.x".into(), false)?;
        let v = r.result.first().and_then(|r| r.expressions.first()).map(|e| e.value.clone());
        Ok(v.map(|v| v.to_json_str().unwrap_or_default()).unwrap_or_default().split_whitespace().collect())
    }

    /// What `data.p.x` evaluates to in a copy of the prepared engine for `module`, given `input`.
    fn run(module: &str, input: Option<i64>) -> String {
        exclusive(|ex| {
            let mut e = ex.policy(module).expect("prepares");
            if let Some(n) = input {
                e.set_input(regorus::Value::from_json_str(&format!("{{\"n\": {n}}}")).expect("json"));
            }
            let r = e.eval_query("data.p.x".into(), false).expect("evaluates");
            r.result
                .first()
                .and_then(|r| r.expressions.first())
                .map(|e| e.value.to_string())
                .unwrap_or_default()
        })
    }

    fn held() -> (usize, u64) {
        exclusive(|ex| (ex.prepared.engines.len(), ex.prepared.bytes))
    }

    #[test]
    fn a_module_is_prepared_once_and_its_copies_carry_no_input() {
        let module = "package p\nimport rego.v1\nx := input.n + 1\n";
        assert_eq!(run(module, Some(1)), "2");
        let after_first = held();
        assert_eq!(run(module, Some(41)), "42");
        assert_eq!(run(module, None), "", "a copy must not see the input an earlier copy was given");
        assert_eq!(held(), after_first, "the module was prepared once");
        // Another text is another engine.
        assert_eq!(run("package p\nx := 7\n", None), "7");
        assert_eq!(held().0, after_first.0 + 1);
        // Copies keep the execution timer and the bounded builtins.
        let e = exclusive(|ex| ex.policy("package p\nx := numbers.range(1, 2e6)\n").expect("prepares"));
        drop(e);
        assert_eq!(run("package p\nx := count(numbers.range(1, 3))\n", None), "3");
        let err = exclusive(|ex| {
            ex.policy("package p\nx := numbers.range(1, 2e6)\n")
                .expect("prepares")
                .eval_query("data.p.x".into(), false)
        });
        assert!(err.is_err(), "a held engine lost the bounded numbers.range");
        // A module that fails to prepare leaves no ceiling behind for the caller's next step.
        let left = exclusive(|ex| {
            assert!(ex.policy("package p\nx := \n").is_err());
            regorus::global_memory_limit()
        });
        assert_eq!(left, None, "a ceiling was left set");
    }

    #[test]
    fn the_prepared_engines_stay_within_their_byte_bound() {
        for i in 0..(MAX_PREPARED * 2) {
            // Distinct texts, each a few KiB of rules.
            let rules: String = (0..50).map(|k| format!("r{k} := {i} + {k}\n")).collect();
            assert_eq!(run(&format!("package p\n{rules}x := r1\n"), None), (i + 1).to_string());
            let (n, bytes) = held();
            assert!(n <= MAX_PREPARED && bytes <= PREPARED_BYTES, "{n} engines, {bytes} bytes held");
        }
    }

    #[test]
    fn bounded_ranges_match_opa_and_refuse_what_they_cannot_hold() {
        assert_eq!(eval("numbers.range(1, 4)").expect("evaluates"), "[1,2,3,4]");
        assert_eq!(eval("numbers.range(3, 1)").expect("evaluates"), "[3,2,1]");
        assert_eq!(eval("numbers.range(2, 2)").expect("evaluates"), "[2]");
        assert_eq!(eval("numbers.range(-1, 1e0)").expect("evaluates"), "[-1,0,1]");
        assert_eq!(eval("numbers.range_step(1, 10, 3)").expect("evaluates"), "[1,4,7,10]");
        assert_eq!(eval("numbers.range_step(10, 1, 4)").expect("evaluates"), "[10,6,2]");
        assert_eq!(eval("count(numbers.range(1, 1000000))").expect("evaluates"), "1000000");
        for bad in [
            "numbers.range(1, 1000001)",
            "numbers.range(1, 1e15)",
            "numbers.range(0, 9e18)",
            "numbers.range(1.5, 3)",
            "numbers.range_step(1, 5, 0)",
            "numbers.range_step(1, 5, -1)",
        ] {
            assert!(eval(bad).is_err(), "{bad}");
        }
    }
}
