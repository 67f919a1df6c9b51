#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. nice -n 10 scripts/fuzz.sh 300 manifest_json
#
# FUZZ_SANITIZER=none (default) builds without a sanitizer, which stable Rust allows; `address`
# builds with ASan through RUSTC_BOOTSTRAP=1 (see docs/robustness.md, "Fuzzing").
# Seeds come from fuzz/corpus/<target>/ (committed, never written to); what libFuzzer learns goes to
# fuzz/target/fuzz-corpus/<target>/, logs to fuzz/target/fuzz-logs/. A crash, timeout or OOM is saved
# by libFuzzer under fuzz/artifacts/<target>/; the script prints its path and bytes and exits 1.
set -euo pipefail

secs="${1:-60}"
[[ "$secs" =~ ^[0-9]+$ && "$secs" -gt 0 ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [[ "$sanitizer" != none ]] && ! rustc --version | grep -q -- -nightly; then
    # -Zsanitizer is nightly-only; this lets the stable compiler accept it.
    export RUSTC_BOOTSTRAP=1
fi
# Cargo caches rustc's answers keyed by flags but not by RUSTC_BOOTSTRAP, so one run without it
# would make every later -Zsanitizer build fail with "only accepted on the nightly compiler".
export CARGO_CACHE_RUSTC_INFO=0

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    work="fuzz/target/fuzz-corpus/$t"
    mkdir -p "$work" "fuzz/corpus/$t" "fuzz/artifacts/$t"
    echo "== $t: ${secs}s"
    start=$(date +%s)
    status=0
    # -timeout: an input taking over 10 s is a hang, reported like a crash.
    cargo fuzz run --sanitizer "$sanitizer" "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$logs/$t.log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -n 1)
    summary+=("$(printf '%-16s %6ss %12s execs %8s/s  %s' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" \
        "$([[ $status -eq 0 ]] && echo ok || echo "FAILED ($status)")")")
    if [[ $status -ne 0 ]]; then
        failed+=("$t")
        grep -A2 -E 'panicked at' "$logs/$t.log" | head -n 12 || true
        grep -E '^(SUMMARY|==[0-9]+== ERROR):' "$logs/$t.log" | head -n 4 || true
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$t.log" | tail -n 1)
        if [[ -n "$artifact" ]]; then
            echo "!! $t: crash input saved at $artifact (fuzz/artifacts/ is not committed)"
            echo "!! its bytes (first 1 KiB), so that a CI log keeps them:"
            head -c 1024 "$artifact" | od -A d -c | head -n 40
            echo "!! reproduce: cargo fuzz run --sanitizer $sanitizer $t $artifact"
            echo "!! then fix registry-core and add a unit test there with this input (docs/robustness.md)."
        else
            echo "!! $t: failed without a saved input; see $logs/$t.log"
        fi
    fi
done

echo "== summary (${secs}s per target; logs in $logs/)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
