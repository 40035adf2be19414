"""Command line: ``python -m hfselect_core rank ...`` and ``python -m hfselect_core coverage``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import arguments
from .embedding import BUNDLED_MODEL_ID
from .errors import HFSelectError, InvalidArgumentError
from .resources import examples_dir
from .sources import ESMFilters


def _examples() -> dict[str, dict]:
    index = examples_dir() / "examples.json"
    return {e["name"]: e for e in json.loads(index.read_text())} if index.is_file() else {}


def _progress_bar():
    """A tqdm bar on stderr per stage."""
    from tqdm.auto import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()

    return update


def _load_dataset(args: argparse.Namespace):
    from .data import TargetDataset

    if args.example or not args.dataset:
        examples = _examples()
        name = args.example or "product_reviews"
        if name not in examples:
            raise HFSelectError(f"Unknown example '{name}'. Examples: {', '.join(examples) or 'none'}.")
        ex = examples[name]
        return TargetDataset.from_file(
            examples_dir() / ex["file"],
            args.text_column or ex["text_columns"],
            args.label_column or ex["label_column"],
            args.task_type or ex["task_type"],
            args.num_examples,
            args.seed,
        )
    if not args.text_column or not args.label_column:
        raise HFSelectError("Give --text-column and --label-column for --dataset.")
    from .data import FILE_SUFFIXES

    if Path(args.dataset).is_file() or Path(args.dataset).suffix.lower() in FILE_SUFFIXES:
        return TargetDataset.from_file(
            args.dataset, args.text_column, args.label_column, args.task_type, args.num_examples, args.seed
        )
    return TargetDataset.from_hub(
        args.dataset,
        split=args.split,
        text_columns=args.text_column,
        label_column=args.label_column,
        subset=args.subset,
        task_type=args.task_type,
        num_examples=args.num_examples,
        seed=args.seed,
    )


def check_rank_args(args: argparse.Namespace) -> None:
    """Every flag checked before any data is read or any model loaded (the output path first)."""
    if args.output:
        args.output = str(arguments.check_output_path(args.output))
    arguments.check_batch_size(args.batch_size, "--batch-size")
    arguments.check_seed(args.seed, "--seed")
    if args.num_examples is not None:
        arguments.check_num_examples(args.num_examples, "--num-examples")
    if args.max_esms is not None:
        arguments.check_positive(args.max_esms, "--max-esms")
    arguments.check_positive(args.top, "--top")
    args.device = arguments.check_device(args.device)
    if args.esm_dir and not Path(args.esm_dir).is_dir():
        raise InvalidArgumentError(f"--esm-dir '{args.esm_dir[:120]}' is not a folder.")


def cmd_rank(args: argparse.Namespace) -> int:
    from .ranking import compute_task_ranking

    check_rank_args(args)
    dataset = _load_dataset(args)
    print(f"Target: {dataset.source} - {dataset.summary()}", file=sys.stderr)
    source = args.esm_dir or args.pool
    filters = ESMFilters(args.task_contains, args.language, args.max_esms)
    ranking = compute_task_ranking(
        dataset,
        base_model=args.base_model,
        source=source,
        filters=filters,
        batch_size=args.batch_size,
        device=args.device,
        progress=None if args.quiet else _progress_bar(),
    )
    for note in ranking.notes:
        print(note, file=sys.stderr)
    print(ranking[: args.top])
    if ranking.skipped:
        print(f"\nSkipped {len(ranking.skipped)} ESM(s):", file=sys.stderr)
        for s in ranking.skipped[:20]:
            print(f"  {s.name}: {s.reason}", file=sys.stderr)
    if args.output:
        out = Path(args.output)
        if out.suffix.lower() == ".json":
            ranking.to_json(out)
        else:
            ranking.to_csv(out)
        print(f"Wrote {len(ranking)} rows to {out}", file=sys.stderr)
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from .sources import esm_coverage

    coverage = esm_coverage(include_hub=not args.bundled_only)
    for where, counts in coverage.items():
        print(f"{where}:")
        for model, n in counts.items():
            print(f"  {model}: {n}")
        if not counts:
            print("  (none)" if where == "bundled" else "  (Hub unreachable or no ESMs)")
    return 0


def cmd_pool(args: argparse.Namespace) -> int:
    from .pool_cli import main as pool_main

    return pool_main(args.pool_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hfselect_core", description="ESM-LogME intermediate task selection"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rank = sub.add_parser("rank", help="rank intermediate tasks for a target dataset")
    rank.add_argument("--dataset", help="Hub dataset id or a local CSV/TSV/JSON/JSONL/Parquet file")
    rank.add_argument("--example", help=f"a bundled example ({', '.join(_examples()) or 'see assets/examples'})")
    rank.add_argument("--subset", default=None)
    rank.add_argument("--split", default="train")
    rank.add_argument("--text-column", nargs="+", default=None, help="one or more text columns")
    rank.add_argument("--label-column", default=None)
    rank.add_argument("--task-type", choices=["classification", "regression"], default=None)
    rank.add_argument("--num-examples", type=int, default=1000)
    rank.add_argument("--seed", type=int, default=42)
    rank.add_argument("--base-model", default=BUNDLED_MODEL_ID)
    rank.add_argument("--esm-dir", default=None, help="rank a local folder of ESM folders instead")
    rank.add_argument("--pool", default="auto", choices=["auto", "hub", "bundled", "both"])
    rank.add_argument("--task-contains", default=None)
    rank.add_argument("--language", default=None)
    rank.add_argument("--max-esms", type=int, default=None)
    rank.add_argument("--batch-size", type=int, default=64)
    rank.add_argument("--device", default=None)
    rank.add_argument("--top", type=int, default=10)
    rank.add_argument("--output", "-o", default=None, help="write the ranking (.csv or .json)")
    rank.add_argument("--quiet", action="store_true")
    rank.set_defaults(func=cmd_rank)
    cov = sub.add_parser("coverage", help="how many ESMs each base model has")
    cov.add_argument("--bundled-only", action="store_true")
    cov.set_defaults(func=cmd_coverage)
    # Listed here for --help; main() hands everything after "pool" to hfselect_core.pool_cli (Ray).
    pool = sub.add_parser(
        "pool", help="build an ESM pool on Ray from a task manifest (see: pool --help)", add_help=False
    )
    pool.add_argument("pool_args", nargs=argparse.REMAINDER)
    pool.set_defaults(func=cmd_pool)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors are one line on stderr (exit 2 for bad input, 1 for anything else), never a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pool"]:
        from .pool_cli import main as pool_main

        return pool_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HFSelectError as e:
        print(f"error: {_bounded(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a command line tool reports, it does not dump a traceback
        print(f"error: unexpected {type(e).__name__}: {_bounded(str(e), 300)}", file=sys.stderr)
        return 1


def _bounded(text: str, limit: int = 1000) -> str:
    from .limits import bounded

    return bounded(text, limit)


if __name__ == "__main__":
    sys.exit(main())
