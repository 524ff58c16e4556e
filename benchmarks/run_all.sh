#!/usr/bin/env bash
# Run every benchmark once, in sequence, and print their tables (issue #7).
#   benchmarks/run_all.sh [PEERS_VENV]      (default: /tmp/benchpeers, if it exists)
# Peers (doit, snakemake, prefect) live in their own venv, never in the project:
#   python -m venv /tmp/benchpeers && /tmp/benchpeers/bin/pip install doit snakemake prefect
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="${1:-/tmp/benchpeers}"
PEER_ARGS=()
[ -d "$PEERS" ] && PEER_ARGS=(--peers-venv "$PEERS")
PY="${PYTHON:-python}"

echo "# flowtui benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for bench in overhead cold_start dag_render dashboard reload store_ingest sandbox_cost; do
    echo
    echo "## $bench"
    case "$bench" in
        overhead|cold_start) "$PY" "benchmarks/$bench.py" "${PEER_ARGS[@]}" ;;
        *) "$PY" "benchmarks/$bench.py" ;;
    esac
done
echo; echo "## load"; "$PY" benchmarks/load.py  # issue #6 item 8: concurrent runs, log flood, dashboard
echo; echo "## team"; "$PY" benchmarks/team.py  # issue #12: needs PostgreSQL's server programs
