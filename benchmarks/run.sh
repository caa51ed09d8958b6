#!/usr/bin/env bash
# Run every benchmark and update benchmarks/RESULTS.md (about 13 minutes on 2 cores).
#
#   benchmarks/run.sh            # creates its own venv, installs .[bench], runs all
#   BENCH_VENV=/path benchmarks/run.sh   # reuse (or create) that venv
#   benchmarks/run.sh --quick    # tiny sizes, seconds: checks that everything runs
#
# Everything talks to servers it starts itself on 127.0.0.1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BENCH_VENV:-${TMPDIR:-/tmp}/feldera-events-bench-venv}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e "$root[bench]"

cd "$root"
for script in bench_parse.py bench_requests.py bench_waiters.py bench_fleet.py; do
    echo "=== $script"
    "$venv/bin/python" "benchmarks/$script" "$@"
done
