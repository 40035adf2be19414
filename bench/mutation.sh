#!/usr/bin/env bash
# Mutation testing (issue 18): break the code on purpose, one small change at a time, and count how
# many of those changes make a test fail. A benchmark, not CI: it takes tens of minutes on 2 cores.
#
#   bash bench/mutation.sh                     # every group in bench/mutation_groups.txt
#   bash bench/mutation.sh safety ranking      # some groups
#   MUTATION_BUDGET_S=900 MUTATION_JOBS=2 bash bench/mutation.sh app_forms
#
# Each group runs mutmut 3 in its own snapshot of the last commit (git archive HEAD, so edits in the
# working tree never disturb a run), mutating only the group's modules and running only the group's
# fast tests (mutmut selects, per mutant, the tests that call the mutated function). Browser and
# gradio_client tests stay out: they start a server per run, and the handler tests reach the same code.
# Results: bench/mutation_out/<group>.txt (score per module, every surviving mutant as a diff).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
WORK=${MUTATION_WORK:-/tmp/hfselect-mutation}
OUT=$ROOT/bench/mutation_out
BUDGET=${MUTATION_BUDGET_S:-1800}
JOBS=${MUTATION_JOBS:-2}
REF=${MUTATION_REF:-HEAD}

if ! "$PY" -c "import mutmut" 2>/dev/null; then
    "$PY" -m pip install -q "mutmut>=3.8,<4"
fi
mkdir -p "$WORK" "$OUT"

run_group() {
    local name=$1 modules=$2 tests=$3
    local dir=$WORK/$name
    rm -rf "$dir" && mkdir -p "$dir"
    git -C "$ROOT" archive "$REF" | tar -x -C "$dir"
    {
        echo "[mutmut]"
        echo "source_paths ="
        echo "    hfselect_core"
        echo "    hfselect_app"
        echo "only_mutate ="
        for m in $modules; do echo "    $m"; done
        echo "also_copy ="
        echo "    assets"
        echo "    app.py"
        echo "pytest_add_cli_args ="
        printf '    %s\n' -p no:cacheprovider -m "not browser"
        echo "pytest_add_cli_args_test_selection ="
        for t in $tests; do [[ -e $dir/$t ]] && echo "    $t"; done
        echo "timeout_multiplier = 10.0"
        echo "timeout_constant = 20.0"  # CPU seconds: fixtures rebuilt in each forked run are not in the per-test times
        echo "use_git_change_detection = false"
        echo "process_isolation = forkserver"  # torch and OpenMP are not fork-safe once used
    } >"$dir/setup.cfg"
    echo "== $name: mutating $modules; tests: $tests (budget ${BUDGET}s, $JOBS workers)"
    local start=$SECONDS
    (cd "$dir" && HF_HUB_OFFLINE=1 timeout --signal=INT "$BUDGET" "$ROOT/.venv/bin/mutmut" run --max-children "$JOBS") \
        >"$dir/run.log" 2>&1
    local rc=$?
    {
        echo "# group $name  ($(date -u +%FT%TZ), ref $(git -C "$ROOT" rev-parse --short "$REF"), $((SECONDS - start)) s, rc $rc, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
        (cd "$dir" && "$PY" "$ROOT/bench/mutation_report.py" $modules)
    } | tee "$OUT/$name.txt"
}

groups=("$@")
while read -r name modules tests; do
    [[ -z $name || $name == \#* ]] && continue
    if ((${#groups[@]})) && [[ ! " ${groups[*]} " == *" $name "* ]]; then continue; fi
    run_group "$name" "${modules//,/ }" "${tests//,/ }"
done <"$ROOT/bench/mutation_groups.txt"
