# Top-level entry points. CMake does the building; this file only sequences
# the build trees and the scripts so that the two documented commands,
# `make demo` and `make check`, work on a fresh Debian 12 machine.
#
#   build/            release tree (gcc, -O2): build/bin/{loam,loamd,loam-host}
#   build/dist/       static agents: loam-host-x64, loam-host-arm64
#   build/cross-arm64 cross tree for the arm64 agent
#   build/check       test tree (clang, ASan+UBSan, libFuzzer targets)

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps check demo demo-clean demo-fleet demo-fleet-clean fuzz artifacts torture format lint clean

all: deps
	@scripts/build.sh release

deps:
	@scripts/deps.sh build

# The artifact store is built (or taken from the cache) before the tests so
# that no VM test depends on another test having built it first.
check: all
	@scripts/deps.sh test
	@scripts/build-artifacts.sh
	@scripts/build.sh check
	@scripts/check.sh

fuzz: all
	@scripts/build.sh check
	@FUZZ_SECONDS=60 scripts/fuzz.sh

artifacts: all
	@scripts/deps.sh vm
	@scripts/build-artifacts.sh

demo: all
	@scripts/demo.sh

demo-clean:
	@scripts/demo.sh clean

# Two hosts: this machine (x64) and the arm64 Debian test host over SSH.
demo-fleet: all
	@scripts/demo-fleet.sh

demo-fleet-clean:
	@scripts/demo-fleet.sh clean

torture: all
	@scripts/deps.sh test
	@scripts/build-artifacts.sh
	@scripts/build.sh check
	@scripts/torture.sh

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

lint:
	@scripts/lint.sh

clean:
	rm -rf build

# Benchmark of `loam-host learn` (issue 2's goal: 50 ms); prints JSON.
.PHONY: bench-learn
bench-learn: all
	@scripts/bench-learn.sh
