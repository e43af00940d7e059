#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, starting from the
# seed inputs fuzz/make_seeds.py writes to fuzz/seeds/<target>/, then prints per target the executions
# done and the crashes found (files in fuzz/artifacts/<target>/). Exits
# non-zero when any target has a crash file or failed to run.
#
#   FUZZ_SECONDS=60      time per target
#   FUZZ_TARGETS="a b"   targets to run (default: all of `cargo fuzz list`)
#   FUZZ_SANITIZER=none  or `address`: the codecs are safe Rust (forbid
#                        unsafe_code), where ASan finds nothing that a panic
#                        would not, and roughly halves the executions
#
# cargo-fuzz passes nightly flags (-Z...); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. Crash files are kept between runs: delete
# fuzz/artifacts/<target>/ once the crash is fixed and has a regression test.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: FUZZ_SECONDS must be a positive integer, got '$seconds'" >&2
    exit 2
fi

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
# Seeds come from the capture the project made itself (not committed: built).
python3 make_seeds.py
read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"

declare -A execs crashes status
failed=0
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    artifacts="artifacts/$target"
    log="$root/fuzz/target/fuzz-$target.log"
    mkdir -p "$corpus" "$artifacts" target
    if [[ -d "seeds/$target" ]]; then
        find "seeds/$target" -maxdepth 1 -type f -exec cp -- {} "$corpus/" \;
    fi

    echo "fuzz: $target for ${seconds}s (log: $log)" >&2
    rc=0
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || rc=$?

    execs[$target]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    found=$(find "$artifacts" -type f | wc -l)
    crashes[$target]=$found
    if ((found > 0)); then
        status[$target]="CRASH"
        failed=1
    elif ((rc != 0)); then
        status[$target]="FAILED (exit $rc, see $log)"
        failed=1
    else
        status[$target]="ok"
    fi
done

printf '\n%-16s %14s %8s  %s\n' target executions crashes status
for target in "${targets[@]}"; do
    printf '%-16s %14s %8s  %s\n' "$target" "${execs[$target]:-?}" \
        "${crashes[$target]}" "${status[$target]}"
    find "artifacts/$target" -type f | sed "s|^|    fuzz/|"
done
exit "$failed"
