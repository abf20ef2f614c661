#!/usr/bin/env bash
# The GPU check (issue 16, item 7): everything a lent NVIDIA GPU machine should run, in one command that ends
# within its deadline (default 560 s, under the device tool's 10 minutes), writing what must be committed into
# one folder. docs/gpu.md says how to run it.
#
# Steps, each under its own time limit (cut to what is left of the deadline):
#   env      the machine: nvidia-smi, Python, compilers, libnvrtc and its version against the driver's CUDA
#   wheels   installs the carried wheels (.whl/, from `make gpu-wheels`) into a private folder, no network
#   tests    tests/gpu/test_gpu_run.py on the GPU (-m gpu), and which device tgrad picks by itself
#   compare  python -m harness.emu_compare: the same CUDA kernels on the GPU and under the emulator
#   table    scenarios/gpu.toml without the 8192^2 squares, quick profile, one round: latest-gpu-quick.md
# Then summary.md says what each step did. Files written into --out (at most 8, as the device tool returns):
#   summary.md, log.txt, emu-vs-gpu.json, emu-vs-gpu.md, emu-vs-gpu-outputs.npz, latest-gpu-quick.md,
#   latest-gpu-quick.csv, runs/<run id>.json
#
# --emulator-only runs the same steps without a GPU with this checkout's .venv (no wheels; the tests and the
# comparison on the emulator; the table's cells then say why they cannot run), so the script is tested here
# (tests/harness/test_gpu_check_script.py). --dry-run prints the plan and writes nothing.
# Exit status: 0 when every step passed, 1 when one failed or ran out of time, 2 on bad arguments.
set -uo pipefail

usage() {
  cat <<'EOF'
usage: tools/gpu_check.sh --out DIR [--emulator-only] [--dry-run] [--steps LIST] [--deadline SECONDS]
                          [--python PY] [--pytest-args ARGS] [--compare-args ARGS] [--table-args ARGS]
                          [--table-scenarios LIST]
  --out DIR          folder for everything to commit (on the device machine: "$OUT/gpu-check")
  --emulator-only    no GPU: this checkout's .venv, emulated devices only
  --dry-run          print the steps and their limits; run and write nothing
  --steps LIST       comma separated subset of: env,wheels,tests,compare,table (default: all)
  --deadline S       seconds the whole check may take (default 560)
  --python PY        the interpreter (default: python3; .venv/bin/python with --emulator-only)
  --pytest-args, --compare-args, --table-args ARGS
                     extra arguments for the tests, harness.emu_compare and harness run (word-split)
  --table-scenarios LIST
                     gpu.toml's scenarios to run (default: G1,G2,G3,G4,G5,G6,H3,H5,H6, without the 8192^2
                     squares; "all" for every one)
EOF
}

fail_usage() {
  echo "error: $1 (tools/gpu_check.sh --help lists the arguments)" >&2
  exit 2
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="" EMU_ONLY=0 DRY=0 STEPS="env,wheels,tests,compare,table" DEADLINE=560 PY=""
PYTEST_ARGS="" COMPARE_ARGS="" TABLE_ARGS=""
# gpu.toml without its 8192^2 squares: their float64 oracle (one BLAS thread, twice 1.1e12 flops) alone takes
# about two minutes, which the device tool's 10 minutes cannot spare
TABLE_SCENARIOS="G1,G2,G3,G4,G5,G6,H3,H5,H6"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || fail_usage "--out needs a folder"; OUT_DIR="$2"; shift 2 ;;
    --emulator-only) EMU_ONLY=1; shift ;;
    --dry-run) DRY=1; shift ;;
    --steps) [ $# -ge 2 ] || fail_usage "--steps needs a list"; STEPS="$2"; shift 2 ;;
    --deadline) [ $# -ge 2 ] || fail_usage "--deadline needs seconds"; DEADLINE="$2"; shift 2 ;;
    --python) [ $# -ge 2 ] || fail_usage "--python needs an interpreter"; PY="$2"; shift 2 ;;
    --pytest-args) [ $# -ge 2 ] || fail_usage "--pytest-args needs a value"; PYTEST_ARGS="$2"; shift 2 ;;
    --compare-args) [ $# -ge 2 ] || fail_usage "--compare-args needs a value"; COMPARE_ARGS="$2"; shift 2 ;;
    --table-args) [ $# -ge 2 ] || fail_usage "--table-args needs a value"; TABLE_ARGS="$2"; shift 2 ;;
    --table-scenarios) [ $# -ge 2 ] || fail_usage "--table-scenarios needs a list"; TABLE_SCENARIOS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) fail_usage "unknown argument '$1'" ;;
  esac
done
[ -n "$OUT_DIR" ] || fail_usage "--out is required"
[[ "$TABLE_SCENARIOS" =~ ^[A-Za-z0-9_.,*-]+$ ]] || fail_usage "--table-scenarios must be scenario names, not '$TABLE_SCENARIOS'"
[[ "$DEADLINE" =~ ^[0-9]+$ ]] && [ "$DEADLINE" -ge 30 ] && [ "$DEADLINE" -le 3600 ] \
  || fail_usage "--deadline must be whole seconds between 30 and 3600, not '$DEADLINE'"
for step in ${STEPS//,/ }; do
  case "$step" in env|wheels|tests|compare|table) ;; *) fail_usage "unknown step '$step' in --steps" ;; esac
done
[ -e "$OUT_DIR" ] && [ ! -d "$OUT_DIR" ] && fail_usage "--out $OUT_DIR exists and is not a folder"
if [ -z "$PY" ]; then
  if [ "$EMU_ONLY" = 1 ]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi
fi
wanted() { [[ ",$STEPS," == *",$1,"* ]]; }

# the step limits in seconds; each is cut to what is left of the deadline
declare -A LIMIT=([env]=20 [wheels]=40 [tests]=120 [compare]=110 [table]=400)
SITE="/tmp/tgrad-gpu-site"  # where the carried wheels go (a folder of its own: the system's torch stays as it is)
# with a GPU, a device that cannot run is a failure (the CUDA tests would only skip, the comparison run half)
if [ "$EMU_ONLY" = 1 ]; then
  DEVICES="CUDA_EMU" MARK="not gpu" MODE="emulator only (no GPU)" REQUIRE="" NEED_CUDA=":"
else
  DEVICES="CUDA,CUDA_EMU" MARK="gpu" MODE="GPU" REQUIRE="--require-all"
  NEED_CUDA="$PY -c 'import sys; from tgrad import _native as n; ok, why = n.cuda_available(); print(\"CUDA:\", why); sys.exit(0 if ok else 1)'"
fi
# the steps' commands (OUT_DIR is quoted: a path with spaces stays one argument)
define_commands() {
  TESTS_CMD="$NEED_CUDA && $PY -m pytest -q -p no:randomly -p no:cacheprovider -m '$MARK' tests/gpu/test_gpu_run.py"
  TESTS_CMD+=" $PYTEST_ARGS"
  COMPARE_CMD="$PY -m harness.emu_compare --devices $DEVICES $REQUIRE --out '$OUT_DIR' $COMPARE_ARGS"
  TABLE_CMD="$PY -m harness run scenarios/gpu.toml --quick --rounds 1 --no-history --no-progress"
  TABLE_CMD+=" --results '$OUT_DIR' $TABLE_ARGS"
  [ "$TABLE_SCENARIOS" = all ] || TABLE_CMD+=" --only $TABLE_SCENARIOS"
  WHEELS_CMD="$PY -m pip install -q --no-index --no-deps --no-compile --upgrade --target $SITE .whl/*.whl"
}
define_commands

if [ "$DRY" = 1 ]; then
  echo "gpu check ($MODE), deadline ${DEADLINE} s, writing into $OUT_DIR:"
  for step in env wheels tests compare table; do
    wanted "$step" || continue
    [ "$step" = wheels ] && [ "$EMU_ONLY" = 1 ] && { echo "  wheels   skipped: the checkout's .venv has tgrad"; continue; }
    case "$step" in
      env) cmd="nvidia-smi; $PY --version; which g++ clang++ nvcc; libnvrtc and its version" ;;
      wheels) cmd="$WHEELS_CMD" ;;
      tests) cmd="$TESTS_CMD; $PY -c 'Device.DEFAULT, Device.why_not_cuda()'" ;;
      compare) cmd="$COMPARE_CMD" ;;
      table) cmd="$TABLE_CMD" ;;
    esac
    printf '  %-8s <= %3s s: %s\n' "$step" "${LIMIT[$step]}" "$cmd"
  done
  exit 0
fi

mkdir -p "$OUT_DIR" || exit 2
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
define_commands  # with the absolute folder: the steps run from the repository root
LOG="$OUT_DIR/log.txt"
: >"$LOG"
cd "$ROOT" || exit 2
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ "$EMU_ONLY" = 0 ]; then
  export PYTHONPATH="$SITE:$PYTHONPATH"
  # the commit the wheels were built from (a copied tree has no .git): the run record's fingerprint uses it
  [ -f .whl/COMMIT ] && export TGRAD_LAB_COMMIT="$(tr -d '[:space:]' <.whl/COMMIT)"
fi
START=$SECONDS
declare -A STATUS=() TOOK=()

# run STEP COMMAND: under the step's limit (or what is left of the deadline), output appended to the log
run_step() {
  local step="$1" cmd="$2" left limit began rc
  left=$((DEADLINE - (SECONDS - START) - 10))
  limit=${LIMIT[$step]}
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 5 ]; then
    STATUS[$step]="not run: the deadline was reached"
    echo "== $step: not run, the deadline was reached" >>"$LOG"
    return
  fi
  echo "== $step (limit ${limit} s): $cmd" | tee -a "$LOG"
  began=$SECONDS
  timeout --kill-after=5 "$limit" bash -c "$cmd" >>"$LOG" 2>&1
  rc=$?
  TOOK[$step]=$((SECONDS - began))
  if [ "$rc" = 0 ]; then
    STATUS[$step]="passed"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    STATUS[$step]="FAILED: past its limit of ${limit} s"
  else
    STATUS[$step]="FAILED: exit status $rc"
  fi
  echo "== $step: ${STATUS[$step]} after ${TOOK[$step]} s" | tee -a "$LOG"
}

ENV_CMD=$(cat <<EOF
date -u; uname -a
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || echo "nvidia-smi: not available"
nvidia-smi || true
$PY --version; command -v g++ clang++ nvcc || true
$PY tools/gpu_env.py
EOF
)
TESTS_FULL="$TESTS_CMD && $PY -c 'import tgrad; d = tgrad.Device; print(\"Device.DEFAULT:\", d.DEFAULT, \"| why not CUDA:\", d.why_not_cuda())'"

wanted env && run_step env "$ENV_CMD"
if wanted wheels && [ "$EMU_ONLY" = 0 ]; then
  run_step wheels "rm -rf $SITE && ls .whl/*.whl && $WHEELS_CMD && $PY -c 'import tgrad, tinygrad; print(tgrad.__file__, tgrad._native.build_info())'"
fi
# tgrad looks for libnvrtc in its own site-packages; the carried wheel lives elsewhere, so name the one found
if [ "$EMU_ONLY" = 0 ] && [ -z "${TGRAD_NVRTC:-}" ]; then
  nvrtc=$($PY tools/gpu_env.py --nvrtc-dir 2>/dev/null)
  [ -n "$nvrtc" ] && export TGRAD_NVRTC="$nvrtc"
fi
wanted tests && run_step tests "$TESTS_FULL"
wanted compare && run_step compare "$COMPARE_CMD"
wanted table && run_step table "$TABLE_CMD"

# the summary: what each step did, and the lines that matter from the log
{
  echo "# GPU check: $MODE"
  echo
  echo "- finished: $(date -u +%Y-%m-%dT%H:%M:%SZ), $((SECONDS - START)) s of a ${DEADLINE} s deadline"
  echo "- commit: ${TGRAD_LAB_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  echo
  echo "| step | status | seconds |"
  echo "|---|---|---|"
  for step in env wheels tests compare table; do
    [ -n "${STATUS[$step]:-}" ] && echo "| $step | ${STATUS[$step]} | ${TOOK[$step]:-—} |"
  done
  echo
  echo "From the log:"
  echo
  grep -E "^(NVIDIA|driver CUDA|nvrtc (chosen|WARNING|matches|none)|Device.DEFAULT)|^CUDA: |^[0-9]+ (passed|failed|skipped)|FAILED|^Verdict|^- [A-Z][A-Za-z0-9]* .*: (PASS|FAIL)|^- [a-z0-9-]+/(ints|normal)|^- CUDA(_EMU)? is not usable" "$LOG" \
    | grep -v "^== " | sed 's/^/    /' | tail -n 60
  echo
  echo "Files:"
  (cd "$OUT_DIR" && find . -type f ! -name '.*' | sort | sed 's|^\./|- |')
} >"$OUT_DIR/.summary.md.part" && mv "$OUT_DIR/.summary.md.part" "$OUT_DIR/summary.md"
cat "$OUT_DIR/summary.md"

for step in "${!STATUS[@]}"; do
  [ "${STATUS[$step]}" = passed ] || exit 1
done
exit 0
