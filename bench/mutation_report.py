"""Score per module and the surviving mutants of one mutmut run (bench/mutation.sh calls it).

Run inside a group's snapshot folder (the one holding ``mutants/``) with the modules as arguments.
Killed = a test failed. Score = killed / (killed + survived + no tests), so a mutant no selected
test reaches counts against the module. Timeouts (the run exceeded its CPU limit, which on a
loaded machine may be the fixtures' cost rather than a mutant that loops) and mutants the time
budget did not reach ("not checked") are counted apart and left out of the score.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1: "killed", 3: "killed"}
TIMEOUT = {36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
ALIVE = {0: "survived", 5: "no tests", 33: "no tests"}


def status(code: int | None) -> str:
    if code is None:
        return "not checked"
    return KILLED.get(code) or TIMEOUT.get(code) or ALIVE.get(code) or f"other({code})"


def main(modules: list[str]) -> None:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    for module in modules:
        meta = Path("mutants") / (module + ".meta")
        if not meta.exists():
            print(f"{module}: no results (the run did not reach it)")
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(status(c) for c in codes.values())
        killed = counts["killed"]
        alive = counts["survived"] + counts["no tests"]
        checked = killed + alive
        score = f"{100 * killed / checked:.1f}%" if checked else "n/a"
        print(
            f"{module}: {score} killed ({killed}/{checked}); "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
        for name, code in sorted(codes.items()):
            if code in ALIVE:
                print(f"\n--- {status(code)}: {name}")
                try:
                    print(get_diff_for_mutant(name, path=module))
                except Exception as exc:  # noqa: BLE001 - the report must list every survivor even if one diff fails
                    print(f"(diff unavailable: {exc})")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
