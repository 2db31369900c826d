#!/usr/bin/env bash
# Runs strand's end-to-end benchmarks one after another, then prints every figure of this run in
# one table, read back from target/bench-results/<name>.json (docs/benchmarks.md).
#
#   benches/run-all.sh                  # ingest, storage, lookup, memory, replay, search, cluster, compaction
#   benches/run-all.sh lookup replay    # only these, in this order
#
# STRAND_BENCH_* variables pass through to every benchmark that reads them; a variable that two
# benchmarks read with different meanings (STRAND_BENCH_SPANS, STRAND_BENCH_BLOCKS) is better set
# on a run of one benchmark alone. A benchmark that fails does not stop the others; the script
# exits non-zero if any failed. Needs cargo and python3.
set -uo pipefail

cd "$(dirname "$0")/.."
benches=("$@")
if ((${#benches[@]} == 0)); then
    benches=(ingest storage lookup memory replay search cluster compaction)
fi
results=${CARGO_TARGET_DIR:-target}/bench-results
started=$(date +%s)
failed=()

# Build everything first, so no benchmark's time or load average includes compiling.
if ! cargo bench --no-run "${benches[@]/#/--bench=}"; then
    echo "run-all: building the benchmarks failed" >&2
    exit 1
fi

for bench in "${benches[@]}"; do
    echo
    echo "=== $bench ($(date '+%H:%M:%S')) ==="
    if ! cargo bench --bench "$bench"; then
        echo "run-all: $bench failed" >&2
        failed+=("$bench")
    fi
done

python3 - "$results" "$started" "${benches[@]}" <<'EOF'
import json, math, os, sys

folder, started, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def number(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"

def ratio(value):
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value * 100:.1f}%" if value < 1 else f"{value:.2f}x"

rows, missing = [], []
for name in names:
    path = os.path.join(folder, f"{name}.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        missing.append(name)
        continue
    if doc.get("unix_time", 0) < started:
        missing.append(f"{name} (only an older result)")
        continue
    for fig in doc.get("figures", []):
        unit = fig.get("unit", "")
        base = fig.get("baseline")
        rows.append([
            name,
            fig.get("figure", ""),
            f"{number(fig.get('value'))} {unit}".strip(),
            f"{number(base.get('value'))} {unit} ({base.get('what', '')})".strip() if base else "-",
            ratio(fig.get("ratio")) if base else "-",
        ])

header = ["bench", "figure", "value", "baseline (same run)", "ratio"]
widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]
def line(cells):
    print("| " + " | ".join(c.ljust(w) if i not in (2, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |")
print()
print("== all benchmarks ==")
line(header)
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for row in rows:
    line(row)
if missing:
    print(f"  * no result from this run: {', '.join(missing)}")
print(f"  * figures from {folder}/<name>.json")
EOF

if ((${#failed[@]} > 0)); then
    echo "run-all: failed: ${failed[*]}" >&2
    exit 1
fi
