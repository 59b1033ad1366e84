#!/usr/bin/env bash
# Configures and builds one of the project's build trees (see Makefile).
#   release: build/ with gcc -O2, plus the two static agents in build/dist/
#   check:   build/check with clang, ASan+UBSan and the libFuzzer targets
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

configure() { # dir, cmake args...
	local dir=$1
	shift
	if [[ ! -f $dir/CMakeCache.txt ]]; then
		cmake -S . -B "$dir" -Wno-dev "$@" >/dev/null
	fi
}

case "${1:-release}" in
release)
	configure build -DCMAKE_BUILD_TYPE=Release
	cmake --build build -j "$jobs"
	configure build/cross-arm64 -DCMAKE_BUILD_TYPE=Release -DLOAM_AGENT_ONLY=ON \
		-DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake"
	cmake --build build/cross-arm64 -j "$jobs"
	;;
check)
	CC=clang configure build/check -DCMAKE_BUILD_TYPE=Debug -DLOAM_SANITIZE=ON -DLOAM_FUZZ=ON
	cmake --build build/check -j "$jobs"
	;;
*)
	echo "usage: $0 release|check" >&2
	exit 2
	;;
esac
