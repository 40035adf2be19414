"""Build an ESM pool on Ray: one Ray task per ESM, resumable, with retries, progress and a report.

The only module that imports Ray (``pip install .[pool]``). ``ray.init()`` starts a local Ray by
default; ``address="auto"`` or ``"ray://head:10001"`` joins a cluster and the same code runs there.
Tasks receive a :class:`~hfselect_core.pool.PoolTask` (where the data is: a Hub id or a path on shared
storage), never the data itself; the output folder must be storage every node can write (a shared
volume) for a multi-node cluster.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ray

from .pool import (
    BUILT,
    EXISTING,
    FAILED,
    ON_HUB,
    PROGRESS_NAME,
    REPORT_NAME,
    PoolJournal,
    PoolProgress,
    PoolRecipe,
    PoolTask,
    RateLimitedPublisher,
    build_one_esm,
    clean_partial_builds,
    code_version,
    esm_key,
    esm_repo_id,
    finished_record,
    hub_record,
    pool_report,
    write_json_atomic,
)


@dataclasses.dataclass
class TaskResources:
    """What one ESM task asks Ray for.

    Args:
        num_gpus: a fraction shares a GPU between several small models (0.25: four at a time).
        num_cpus: CPU cores for tokenising, the float64 map fit and torch's CPU threads.
        memory_bytes: host memory Ray reserves for the task (None: no reservation).
    """

    num_gpus: float = 0.0
    num_cpus: float = 1.0
    memory_bytes: int | None = None

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_gpus": self.num_gpus, "num_cpus": self.num_cpus}
        if self.memory_bytes:
            opts["memory"] = int(self.memory_bytes)
        return opts


@dataclasses.dataclass
class PoolSettings:
    """How the job runs (not what it builds: that is the recipe, part of every ESM key).

    Args:
        max_attempts: tries per ESM; a task failing them all is recorded with every reason.
        namespace: Hub namespace of the ESM repos: finished ESMs found there are skipped, and with
            ``publish`` each new ESM is uploaded there as it completes.
        publish_interval_s: at least this long between two uploads.
        progress_every_s: how often the progress line and ``pool_progress.json`` are refreshed.
        deterministic: PyTorch's deterministic algorithms and a fixed cuBLAS workspace in every task,
            for bitwise-reproducible rebuilds where the GPU allows them (see docs/POOL.md).
    """

    resources: TaskResources = dataclasses.field(default_factory=TaskResources)
    max_attempts: int = 3
    namespace: str | None = None
    publish: bool = False
    private: bool = False
    token: str | None = None
    publish_interval_s: float = 5.0
    progress_every_s: float = 10.0
    code_version: str | None = None
    deterministic: bool = False


def _run_task(
    task: PoolTask, recipe: PoolRecipe, key: str, code: str, out_dir: str, token: str | None, deterministic: bool
) -> dict:
    if deterministic:
        # Before cuBLAS starts in this worker; every task of the job asks the same, so order does not matter.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    # Ray sets CUDA_VISIBLE_DEVICES to the GPU(s) granted to this task (none for num_gpus=0).
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    if device == "cpu":
        import torch

        torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    record = build_one_esm(task, recipe, key, code, out_dir, device=device, token=token)
    record["node"] = ray.get_runtime_context().get_node_id()[:12]
    return record


_remote_task = ray.remote(max_retries=0)(_run_task)


def _failure_reason(error: BaseException) -> str:
    if isinstance(error, ray.exceptions.RayTaskError):
        cause = error.cause if getattr(error, "cause", None) is not None else error
        text = f"{type(cause).__name__}: {cause}"
    elif isinstance(error, ray.exceptions.WorkerCrashedError):
        text = "the worker process died (killed, or out of memory)"
    elif isinstance(error, ray.exceptions.OutOfMemoryError):
        text = "Ray's memory monitor killed the task (out of host memory): ask for more --memory-per-esm"
    else:
        text = f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:500] + "..."


def _capacity(resources: TaskResources) -> int:
    """How many tasks fit the cluster at once (grows as an autoscaling cluster adds nodes)."""
    total = ray.cluster_resources()
    fits = []
    for name, need in (("GPU", resources.num_gpus), ("CPU", resources.num_cpus)):
        if need:
            fits.append(int(total.get(name, 0) / need + 1e-9))
    if resources.memory_bytes:
        fits.append(int(total.get("memory", 0) / resources.memory_bytes))
    return max(1, min(fits) if fits else 1)


def build_pool(
    tasks: list[PoolTask],
    recipe: PoolRecipe,
    out_dir: str | Path,
    settings: PoolSettings | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build every ESM of ``tasks`` not already finished; returns the report (also written to disk).

    Ray must be initialised (:func:`init_ray`). Finished ESMs (same key) in ``out_dir`` or, with a
    namespace, on the Hub are skipped; half-written folders of a killed run are removed first.
    """
    settings = settings or PoolSettings()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if cleaned := clean_partial_builds(out):
        log(f"[pool] removed {cleaned} half-written folder(s) of an interrupted run")
    code = settings.code_version or code_version()
    journal = PoolJournal(out)
    wall_start = time.time()
    progress = PoolProgress(total=len(tasks))
    records: dict[str, dict[str, Any]] = {}
    keys = {t.name: esm_key(t, recipe, code) for t in tasks}
    local = {t.name: finished_record(out / t.name, keys[t.name]) for t in tasks}
    on_hub: dict[str, dict[str, Any] | None] = {}
    if settings.namespace:
        # Also for ESMs finished here: with --publish, those missing on the Hub are uploaded now.
        repo_ids = {t.name: esm_repo_id(settings.namespace, recipe.base_model, t.name) for t in tasks}
        with ThreadPoolExecutor(max_workers=8) as lookups:
            found = lookups.map(lambda t: hub_record(repo_ids[t.name], keys[t.name], settings.token), tasks)
            on_hub = dict(zip([t.name for t in tasks], found))

    publisher = None
    if settings.publish and settings.namespace:

        def published(name: str, repo_id: str, error: str | None) -> None:
            rec = records.get(name)
            if rec is not None:
                rec.update(repo_id=repo_id, published=error is None, publish_error=error)
            journal.append({"event": "publish", "name": name, "repo_id": repo_id, "error": error})

        publisher = RateLimitedPublisher(
            settings.namespace,
            recipe.base_model,
            settings.token,
            settings.publish_interval_s,
            settings.private,
            on_done=published,
        )

    todo: list[PoolTask] = []
    for task in tasks:
        base = {"name": task.name, "task_id": task.task_id, "subset": task.subset, "key": keys[task.name]}
        hub = on_hub.get(task.name)
        if local[task.name] is not None:
            records[task.name] = {**base, **local[task.name], "status": EXISTING, "attempts": 0, "errors": []}
            if hub is not None:
                records[task.name]["repo_id"] = esm_repo_id(settings.namespace, recipe.base_model, task.name)
            elif publisher is not None:
                records[task.name]["repo_id"] = publisher.submit(task.name, out / task.name)
        elif hub is not None:
            repo_id = esm_repo_id(settings.namespace, recipe.base_model, task.name)
            records[task.name] = {**base, **hub, "status": ON_HUB, "repo_id": repo_id, "attempts": 0, "errors": []}
        else:
            todo.append(task)
            continue
        progress.existing += 1
    log(f"[pool] {len(tasks)} tasks: {progress.existing} already built, {len(todo)} to build (code {code})")

    # Longest tasks first, so the last ones to finish are short.
    todo.sort(key=lambda t: -(t.rows or 0))
    sizes = [t.rows for t in todo if t.rows]
    typical = statistics.mean(sizes) if sizes else 1.0
    work = {t.name: float(t.rows or typical) for t in todo}
    progress.work_total = sum(work.values())
    pending = list(todo)
    attempts: dict[str, int] = {t.name: 0 for t in todo}
    errors: dict[str, list[str]] = {t.name: [] for t in todo}
    in_flight: dict[ray.ObjectRef, PoolTask] = {}
    options = settings.resources.options()

    def submit(task: PoolTask) -> None:
        attempts[task.name] += 1
        ref = _remote_task.options(name=f"esm:{task.name}", **options).remote(
            task, recipe, keys[task.name], code, str(out), settings.token, settings.deterministic
        )
        in_flight[ref] = task

    last_report = 0.0
    try:
        while pending or in_flight:
            while pending and len(in_flight) < _capacity(settings.resources):
                submit(pending.pop(0))
            progress.running = len(in_flight)
            progress.work_running = sum(work[t.name] for t in in_flight.values())
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in done:
                task = in_flight.pop(ref)
                base = {"name": task.name, "task_id": task.task_id, "subset": task.subset, "key": keys[task.name]}
                try:
                    result = ray.get(ref)
                except Exception as e:  # a task's failure is recorded; the others go on
                    reason = _failure_reason(e)
                    errors[task.name].append(f"attempt {attempts[task.name]}: {reason}")
                    if attempts[task.name] < settings.max_attempts:
                        progress.retries += 1
                        log(f"[pool] {task.name} failed (attempt {attempts[task.name]}), retrying: {reason[:200]}")
                        pending.insert(0, task)
                        continue
                    rec = {**base, "status": FAILED, "attempts": attempts[task.name], "errors": errors[task.name]}
                    records[task.name] = rec
                    journal.append({"event": FAILED, **rec})
                    progress.finished(work[task.name], failed=True)
                    log(f"[pool] {task.name} FAILED after {attempts[task.name]} attempt(s): {reason[:300]}")
                    continue
                rec = {**base, **result, "status": BUILT, "attempts": attempts[task.name], "errors": errors[task.name]}
                records[task.name] = rec
                journal.append({"event": BUILT, **rec})
                progress.finished(work[task.name])
                if publisher is not None:
                    rec["repo_id"] = publisher.submit(task.name, out / task.name)
                log(f"[pool] built {task.name}: R2 {rec['r2']:.3f}, {rec['seconds']:.1f} s")
            progress.running = len(in_flight)
            progress.work_running = sum(work[t.name] for t in in_flight.values())
            now = time.monotonic()
            if now - last_report >= settings.progress_every_s or not (pending or in_flight):
                last_report = now
                log(progress.line())
                write_json_atomic(out / PROGRESS_NAME, progress.as_dict())
    finally:
        if publisher is not None:
            publisher.close()
    meta = {
        "base_model": recipe.base_model,
        "base_model_revision": recipe.base_revision,
        "model_path": recipe.model_path,
        "code_version": code,
        "recipe": recipe.settings,
        "resources": dataclasses.asdict(settings.resources),
        "max_attempts": settings.max_attempts,
        "deterministic": settings.deterministic,
        "namespace": settings.namespace,
        "cluster": {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU", "memory")},
        "nodes": sum(1 for n in ray.nodes() if n.get("Alive")),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_start)),
        "wall_seconds": time.time() - wall_start,
    }
    report = pool_report(meta, records.values())
    write_json_atomic(out / REPORT_NAME, report)
    write_json_atomic(out / PROGRESS_NAME, progress.as_dict())
    return report


def init_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    object_store_mb: int | None = None,
    working_dir: str | None = None,
    include_dashboard: bool = False,
) -> None:
    """Start a local Ray (no address) or join a cluster (``"auto"``, ``"ray://host:10001"``).

    Workers need ``hfselect_core`` importable: it is installed on the cluster's image, or shipped
    with ``working_dir`` (uploaded to every node). Locally, workers inherit this process's path.
    """
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": True}
    runtime_env: dict[str, Any] = {}
    if working_dir:
        runtime_env["working_dir"] = working_dir
        runtime_env["excludes"] = [".git", ".venv", "assets/esms", "*.parquet", ".gpu", "artifacts"]
    elif not address:
        # Local workers start in the same environment; make sure they find this package. (On a
        # cluster the image installs it: its nodes' PYTHONPATH is theirs, not this machine's.)
        from .resources import package_dir

        root = str(package_dir().parent)
        path = os.environ.get("PYTHONPATH", "")
        if root not in path.split(os.pathsep):
            runtime_env["env_vars"] = {"PYTHONPATH": os.pathsep.join(p for p in (root, path) if p)}
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    if address:
        kwargs["address"] = address
    else:
        kwargs.update(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=include_dashboard)
        if object_store_mb:
            kwargs["object_store_memory"] = object_store_mb * 1024 * 1024
    ray.init(**kwargs)


def shutdown_ray() -> None:
    ray.shutdown()
