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
use std::sync::{Mutex, PoisonError};

/// Bytes a policy evaluation (or compilation) may add to the process's live memory.
pub const MEMORY_BUDGET: u64 = 128 << 20;

static LOCK: Mutex<()> = Mutex::new(());

/// The right to run regorus work, held by one caller at a time; [`Exclusive::budget`] sets the ceiling.
pub struct Exclusive(());

impl Exclusive {
    /// From now until the work ends, at most `bytes` more live bytes than now.
    pub fn budget(&self, bytes: u64) {
        let live = regorus_mimalloc::global_allocation_stats_snapshot().allocated;
        regorus::set_global_memory_limit(Some(live.saturating_add(bytes)));
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        regorus::set_global_memory_limit(None);
    }
}

/// Runs regorus work `f` alone (no ceiling until `f` sets one with [`Exclusive::budget`]; loading a
/// policy and its input usually comes first, unbudgeted, then the evaluation under the budget).
pub fn exclusive<T>(f: impl FnOnce(&Exclusive) -> T) -> T {
    let _one_at_a_time = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    regorus::set_global_memory_limit(None);
    let ex = Exclusive(());
    f(&ex)
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
