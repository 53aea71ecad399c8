#!/usr/bin/env bash
# The test command (CI runs it): deps, -Werror build, ASan+UBSan unit tests, fuzzers, then all of ctest.
#
# Stages run in order and each one runs even if an earlier one failed, so one CI log shows every
# problem; the exit status is non-zero if any stage failed. `ctest` over build/ (unit + netns)
# comes last so that the log ends with its summary. Budget: ~15 minutes on 2 cores.
#   LR_FUZZ_SECONDS  seconds per fuzz harness (default 20)
#   LR_JOBS          parallel build jobs (default: number of CPUs)
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
JOBS=${LR_JOBS:-$(nproc)}
FUZZ_SECONDS=${LR_FUZZ_SECONDS:-20}
FAILED=()

# stage NAME COMMAND...: runs one stage, records a failure instead of stopping.
stage() {
	local name=$1 t0=$SECONDS
	shift
	echo
	echo "=== $name"
	if "$@"; then
		echo "=== $name: ok ($((SECONDS - t0)) s)"
	else
		echo "=== $name: FAILED ($((SECONDS - t0)) s)"
		FAILED+=("$name")
	fi
}

# build DIR CMAKE-ARGS...: configure and build one tree.
build() {
	local dir=$1
	shift
	cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j "$JOBS"
}

# The compiler is named on the command line too: CC only counts when a tree is first configured.
build_fuzz() {
	CC=clang CXX=clang++ build build-fuzz -DCMAKE_C_COMPILER=clang -DLR_FUZZ=ON
}

unit_asan() {
	ctest --test-dir build-asan -L unit --output-on-failure -j "$JOBS"
}

# Each harness runs for FUZZ_SECONDS on its own corpus under build-fuzz/corpus/NAME (kept between
# runs, so coverage accumulates), seeded from tests/fuzz/corpus/NAME when that exists. libFuzzer
# exits non-zero on a crash, leak, timeout or sanitizer report and writes the input to
# build-fuzz/artifacts/; we show the end of its log.
fuzz() {
	local src name bin corpus seeds log rc failed=0
	shopt -s nullglob
	for src in tests/fuzz/fuzz_*.c; do
		name=$(basename "$src" .c)
		bin=build-fuzz/$name
		if [[ ! -x $bin ]]; then
			echo "fuzz: $name was not built"
			failed=1
			continue
		fi
		corpus=build-fuzz/corpus/$name
		seeds=()
		[[ -d tests/fuzz/corpus/$name ]] && seeds=("tests/fuzz/corpus/$name")
		log=build-fuzz/$name.log
		mkdir -p "$corpus" build-fuzz/artifacts
		"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
			-artifact_prefix="build-fuzz/artifacts/$name-" "$corpus" "${seeds[@]}" \
			>"$log" 2>&1 </dev/null
		rc=$?
		if ((rc == 0)); then
			echo "fuzz: $name ok, $(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$log" |
				grep -oE '[0-9]+$') runs, corpus $(find "$corpus" -type f | wc -l) inputs"
		else
			echo "fuzz: $name FAILED (exit $rc); end of $log:"
			tail -n 40 "$log"
			failed=1
		fi
	done
	shopt -u nullglob
	return $failed
}

stage "install dependencies" bash tools/install-deps.sh
stage "build (build/, -Werror)" build build -DLR_WERROR=ON
stage "build (build-asan/, ASan+UBSan, -Werror)" build build-asan -DLR_SANITIZE=ON -DLR_WERROR=ON
stage "unit tests under ASan+UBSan (build-asan/)" unit_asan
stage "build (build-fuzz/, clang libFuzzer)" build_fuzz
stage "fuzz harnesses, ${FUZZ_SECONDS} s each" fuzz

echo
if ((${#FAILED[@]})); then
	echo "=== stages FAILED: $(printf '[%s] ' "${FAILED[@]}")"
else
	echo "=== all stages before ctest passed"
fi
echo "=== ctest (build/: unit + netns)"
ctest --test-dir build --output-on-failure -j "$JOBS"
rc=$?
((rc == 0 && ${#FAILED[@]} == 0))
