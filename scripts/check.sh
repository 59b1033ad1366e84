#!/usr/bin/env bash
# Runs the test suite of the sanitizer tree (build/check) with CTest.
# LOAM_CHECK_ARGS passes extra arguments to ctest (e.g. "-L unit"). Tests
# labelled torture (minutes each) run in `make torture` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$(date +%s)
# shellcheck disable=SC2086
ctest --test-dir build/check --output-on-failure -j "$(nproc)" -LE torture ${LOAM_CHECK_ARGS:-}
echo "check: finished in $(($(date +%s) - start)) s"
