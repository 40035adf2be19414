"""Build an ESM pool on Ray from a task manifest (a thin entry point to ``hfselect_core.pool_cli``).

    python scripts/build_pool.py --manifest ../shared/datasets/manifest.json \
        --out pool/sentence-transformers__all-MiniLM-L6-v2 --esms-per-gpu 7

Same as ``python -m hfselect_core pool ...``; ``--help`` lists the options, docs/POOL.md explains
the manifest, resuming, clusters and publishing. Needs ``pip install .[pool]`` (Ray).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hfselect_core.pool_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
