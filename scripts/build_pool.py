"""Build an ESM pool on Ray from a task manifest (a thin entry point to ``hfselect_core.pool_cli``).

    python -m scripts.build_pool --manifest ../shared/datasets/manifest.json \
        --out pool/sentence-transformers__all-MiniLM-L6-v2 --esms-per-gpu 7

from the repository root, or ``python scripts/build_pool.py ...`` where the package is installed
(``pip install .[pool]``, which also installs the same command as ``hfselect-pool``). Same as
``python -m hfselect_core pool ...``; ``--help`` lists the options, docs/POOL.md explains the
manifest, resuming, clusters and publishing. Needs Ray (the ``pool`` extra).
"""

from __future__ import annotations

import sys

from hfselect_core.pool_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
