"""The one command that builds an ESM pool on Ray: ``python -m hfselect_core pool --manifest ... --out ...``
(also ``python scripts/build_pool.py``). Needs the ``pool`` extra (``pip install .[pool]``).

Starts a local Ray unless ``--address`` joins a cluster. Re-running the same command resumes:
finished ESMs (same key) are skipped, failed ones are tried again. Exit status: 0 when every ESM is
built, 3 when some failed (see the report), 2 for bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys

from .errors import HFSelectError, PoolManifestError
from .settings import get_settings
from .training import DEFAULT_LM_BATCH_SIZE, DEFAULT_LM_EPOCHS, DEFAULT_LM_LEARNING_RATE

EXIT_SOME_FAILED = 3


def _bytes(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size; write e.g. 6GB or 512MB")
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2] or " "))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hfselect_core pool",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--manifest", required=True, help="JSON with a 'tasks' list (see docs/POOL.md)")
    p.add_argument("--data-dir", default=None, help="root of relative data paths (default: the manifest's folder)")
    p.add_argument("--out", required=True, help="pool folder (one ESM folder per task); shared storage on a cluster")
    p.add_argument("--tasks", nargs="*", help="build only these task names")
    g = p.add_argument_group("base model")
    g.add_argument("--base-model", default="sentence-transformers/all-MiniLM-L6-v2")
    g.add_argument("--model-path", default=None, help="load the base model from this copy (every node must see it)")
    g.add_argument("--base-revision", default=None, help="the base model's revision (default: read or hashed)")
    g = p.add_argument_group("recipe (part of every ESM key)")
    g.add_argument("--max-examples", type=int, default=10_000)
    g.add_argument("--epochs", type=float, default=DEFAULT_LM_EPOCHS)
    g.add_argument("--batch-size", type=int, default=DEFAULT_LM_BATCH_SIZE)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--lr", type=float, default=DEFAULT_LM_LEARNING_RATE, help="encoder learning rate")
    g.add_argument("--head", choices=["linear", "cosine"], default="linear", help="classification head")
    g.add_argument("--head-lr", type=float, default=0.0, help="head learning rate (0: same as --lr)")
    g.add_argument("--max-length", type=int, default=128)
    g.add_argument("--developers", default="hfselect")
    g.add_argument("--code-version", default=None, help="pin the code version in the keys (default: a digest)")
    g.add_argument("--deterministic", action="store_true", help="PyTorch deterministic algorithms in every task")
    g = p.add_argument_group("Ray")
    g.add_argument("--address", default=None, help="join this Ray cluster ('auto', 'ray://head:10001')")
    g.add_argument("--num-cpus", type=int, default=None, help="local Ray only: CPUs to use")
    g.add_argument("--num-gpus", type=int, default=None, help="local Ray only: GPUs to use")
    g.add_argument("--object-store-mb", type=int, default=None, help="local Ray only: object store size")
    g.add_argument("--working-dir", default=None, help="ship this folder (hfselect_core) to the cluster's workers")
    g.add_argument("--dashboard", action="store_true", help="local Ray only: start Ray's dashboard (ray[default])")
    g.add_argument("--esms-per-gpu", type=float, default=4, help="ESMs sharing one GPU (sets --gpus-per-esm)")
    g.add_argument("--gpus-per-esm", type=float, default=None, help="GPU fraction per ESM (0 for CPU only)")
    g.add_argument("--cpus-per-esm", type=float, default=1)
    g.add_argument("--memory-per-esm", type=_bytes, default=None, help="host memory reserved per ESM, e.g. 6GB")
    g.add_argument("--max-attempts", type=int, default=3, help="tries per ESM before it is recorded as failed")
    g.add_argument("--progress-every", type=float, default=10, help="seconds between progress lines")
    g = p.add_argument_group("Hub")
    g.add_argument("--namespace", default=None, help="user or org of the ESM repos: skip ESMs already there")
    g.add_argument("--publish", action="store_true", help="upload each ESM to <namespace> as it completes")
    g.add_argument("--private", action="store_true")
    g.add_argument("--publish-interval", type=float, default=5.0, help="seconds between two uploads")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except HFSelectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from .pool import PoolRecipe, base_model_revision, load_task_manifest
    from .training import TrainingSettings

    if args.publish and not args.namespace:
        raise PoolManifestError("--publish needs --namespace (the user or organisation that owns the ESM repos).")
    token = get_settings().hf_token
    tasks = load_task_manifest(args.manifest, args.data_dir)
    if args.tasks:
        unknown = sorted(set(args.tasks) - {t.name for t in tasks})
        if unknown:
            raise PoolManifestError(f"--tasks names tasks the manifest lacks: {', '.join(unknown)}.")
        tasks = [t for t in tasks if t.name in set(args.tasks)]
    settings = TrainingSettings(
        lm_num_epochs=args.epochs,
        lm_batch_size=args.batch_size,
        lm_learning_rate=args.lr,
        head=args.head,
        head_learning_rate=args.head_lr or None,
        max_examples=args.max_examples,
        seed=args.seed,
        max_length=args.max_length,
    )
    revision = args.base_revision or base_model_revision(args.base_model, args.model_path, token)
    recipe = PoolRecipe(
        base_model=args.base_model,
        base_revision=revision,
        settings=dataclasses.asdict(settings),
        model_path=os.path.abspath(args.model_path) if args.model_path else None,
        developers=args.developers,
    )

    from . import pool_ray  # Ray is imported here only

    pool_ray.init_ray(
        args.address, args.num_cpus, args.num_gpus, args.object_store_mb, args.working_dir, args.dashboard
    )
    try:
        gpus = args.gpus_per_esm
        if gpus is None:
            # Ray keeps resources to 1e-4: round down so that N shares of 1/N fit on one GPU.
            share = math.floor(10_000 / max(args.esms_per_gpu, 1e-4)) / 10_000
            gpus = share if pool_ray.ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        run = pool_ray.PoolSettings(
            resources=pool_ray.TaskResources(gpus, args.cpus_per_esm, args.memory_per_esm),
            max_attempts=max(1, args.max_attempts),
            namespace=args.namespace,
            publish=args.publish,
            private=args.private,
            token=token,
            publish_interval_s=args.publish_interval,
            progress_every_s=args.progress_every,
            code_version=args.code_version,
            deterministic=args.deterministic,
        )
        report = pool_ray.build_pool(tasks, recipe, args.out, run)
    finally:
        pool_ray.shutdown_ray()
    s = report["summary"]
    print(
        f"pool: {s['built']} built, {s['existing'] + s['on_hub']} already there, {s['failed']} failed "
        f"in {report['wall_seconds']:.1f} s; report: {os.path.join(args.out, 'pool_report.json')}",
        flush=True,
    )
    for rec in report["esms"]:
        if rec["status"] == "failed":
            print(f"  failed {rec['name']}: {rec['errors'][-1] if rec['errors'] else '?'}", file=sys.stderr)
    return EXIT_SOME_FAILED if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
