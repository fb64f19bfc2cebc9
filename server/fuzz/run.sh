#!/usr/bin/env bash
# Runs each fuzz target of the server for SECONDS (default 60) on the nightly toolchain with
# cargo-fuzz (`cargo install cargo-fuzz`), starting from the committed seeds, and prints per
# target the inputs tried and whether it crashed. Not part of CI (a sanitizer build of the server
# alone takes minutes). Usage: server/fuzz/run.sh [SECONDS] [TARGET...]
# KMCP_FUZZ_SANITIZER (default address) picks cargo-fuzz's sanitizer; "none" runs ~2-4x more
# inputs per second (panics, hangs and the RSS bound are still caught; memory errors in unsafe
# code are not) and builds into its own target directory, so both builds are kept.
# KMCP_FUZZ_RUNS=N stops a target after N inputs, if that comes before SECONDS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(mcp_http config_toml manifest_yaml helm_release)
mkdir -p logs
status=0
sanitizer=${KMCP_FUZZ_SANITIZER:-address}
build=(-s "$sanitizer")
[[ $sanitizer == address ]] || build+=(--target-dir "target/$sanitizer")
limits=(-max_total_time="$seconds")
[[ -z ${KMCP_FUZZ_RUNS:-} ]] || limits+=(-runs="$KMCP_FUZZ_RUNS")
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="logs/$t.log"
  # -rss_limit_mb: an input that makes the server hold 2 GiB is a finding, not a host problem.
  if cargo +nightly fuzz run "${build[@]}" --fuzz-dir . "$t" "corpus/$t" "seeds/$t" -- \
       "${limits[@]}" -rss_limit_mb=2048 -timeout=20 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log and artifacts/$t/)"
    status=1
  fi
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo "?")
  printf '%-12s %s %ss  runs=%s  corpus=%s  %s\n' "$t" "$sanitizer" "$seconds" "$runs" \
    "$(find "corpus/$t" -type f | wc -l)" "$result"
done
exit $status
