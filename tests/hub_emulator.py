"""A local Hugging Face Hub for tests: the subset of the Hub's HTTP API that our code,
``huggingface_hub`` 2.4, ``datasets`` 5.2 and ``transformers`` 5 call, served by Starlette + uvicorn
in a thread. Point ``HF_ENDPOINT`` at :attr:`HubEmulator.url` (in a fresh process: the libraries
read it at import time).

What it speaks (found by logging what the libraries ask for; unknown routes answer 404 and are
recorded in :attr:`HubEmulator.unknown`):

- ``GET /api/models`` (and ``/api/datasets``) with ``filter`` (all must match a tag), ``search``,
  ``author``, ``limit``, ``expand``/``full``, paginated with a ``Link: rel="next"`` header;
- ``GET /api/{models,datasets}/<id>[/revision/<rev>]`` (repo info with ``sha``, ``siblings``, ``tags``,
  ``cardData``, ``gated``, ``private``); one-part legacy ids resolve to their canonical id;
- ``GET /api/{models,datasets}/<id>/tree/<rev>[/<path>]`` (``recursive``) and ``POST .../paths-info/<rev>``;
- ``HEAD``/``GET /[datasets/]<id>/resolve/<rev>/<path>`` with ``ETag``, ``X-Repo-Commit``,
  ``X-Linked-Etag``/``X-Linked-Size`` (LFS files), ``Content-Length`` and ``Range`` requests (206);
- errors the way the Hub sends them (``X-Error-Code``: ``RepoNotFound``, ``GatedRepo``,
  ``EntryNotFound``, ``RevisionNotFound``): gated repos answer 401 without a token and 403 with a
  token that has no access; private repos look missing (401 ``RepoNotFound``) to everyone else;
- injected faults (:meth:`HubEmulator.add_fault`): a status (429 with ``Retry-After``, 5xx) for the
  next ``times`` requests matching a path pattern, or a delay (slow responses).

Every request is logged (method, path, status, whether it carried which token) for counting.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import numpy as np
from helpers import esm_config_dict

MODEL, DATASET = "model", "dataset"
LFS_SUFFIXES = (".safetensors", ".parquet", ".bin")


@dataclass
class Repo:
    repo_id: str
    repo_type: str = MODEL
    files: dict[str, bytes] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    private: bool = False
    gated: bool = False
    allowed_tokens: set[str] = field(default_factory=set)  # tokens that may read a gated/private repo
    card_data: dict | None = None
    created: float = field(default_factory=time.time)

    @property
    def sha(self) -> str:
        """The commit: a digest of the id and every file, so any change to the files gives a new one."""
        stamp = (len(self.files), sum(len(v) for v in self.files.values()), tuple(self.files))
        if getattr(self, "_sha_stamp", None) != stamp:
            self._sha_stamp, self._sha = stamp, self._digest()
        return self._sha

    def _digest(self) -> str:
        digest = hashlib.sha1(self.repo_id.encode())
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + hashlib.sha1(self.files[path]).digest())
        return digest.hexdigest()


@dataclass
class Fault:
    pattern: re.Pattern
    status: int | None
    times: int
    delay: float = 0.0
    retry_after: int | None = None
    method: str | None = None


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    token: str | None
    seconds: float
    bytes_sent: int
    at: float = 0.0  # time.time() when the request arrived


def _blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


class HubEmulator:
    """A Hub in a thread. ``with HubEmulator() as hub: ...`` or ``start()``/``stop()``."""

    def __init__(self, page_size: int = 1000):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        self.unknown: list[str] = []
        self.page_size = page_size
        self._lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- content ---------------------------------------------------------------------------

    def add_repo(self, repo: Repo) -> Repo:
        with self._lock:
            self.repos[(repo.repo_type, repo.repo_id)] = repo
        return repo

    def add_alias(self, alias: str, repo_id: str, repo_type: str = MODEL) -> None:
        self.aliases[(repo_type, alias)] = repo_id

    def remove_repo(self, repo_id: str, repo_type: str = MODEL) -> None:
        with self._lock:
            self.repos.pop((repo_type, repo_id), None)

    def add_model_folder(self, repo_id: str, folder, tags: list[str] | None = None, **kw) -> Repo:
        from pathlib import Path

        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}
        return self.add_repo(Repo(repo_id, MODEL, files, tags or [], **kw))

    def add_fault(
        self,
        pattern: str,
        status: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        method: str | None = None,
    ) -> Fault:
        fault = Fault(re.compile(pattern), status, times, delay, retry_after, method)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()
            self.unknown.clear()

    def requests(self, pattern: str = "", method: str | None = None) -> list[LoggedRequest]:
        rx = re.compile(pattern)
        with self._lock:
            return [r for r in self.log if rx.search(r.path) and (method is None or r.method == method)]

    # --- server ----------------------------------------------------------------------------

    def start(self) -> str:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="hub-emulator")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Hub emulator did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=5)

    def __enter__(self) -> HubEmulator:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def app(self):
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "HEAD", "POST"])])

    # --- request handling --------------------------------------------------------------------

    async def _endpoint(self, request):
        import anyio

        started = time.perf_counter()
        arrived = time.time()
        path = "/" + request.path_params["path"]
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        body = await request.body() if request.method == "POST" else b""
        delay, fault_response = self._match_fault(request.method, path)
        if delay:
            await anyio.sleep(delay)
        response = fault_response or self._route(request, path, token, body)
        sent = len(getattr(response, "body", b"") or b"")
        with self._lock:
            self.log.append(
                LoggedRequest(
                    request.method,
                    path,
                    request.url.query,
                    response.status_code,
                    token,
                    time.perf_counter() - started,
                    0 if request.method == "HEAD" else sent,
                    arrived,
                )
            )
        return response

    def _match_fault(self, method: str, path: str):
        from starlette.responses import JSONResponse

        with self._lock:
            for fault in self.faults:
                if fault.times <= 0 or not fault.pattern.search(path):
                    continue
                if fault.method and fault.method != method:
                    continue
                fault.times -= 1
                if fault.status is None:
                    return fault.delay, None
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return fault.delay, JSONResponse({"error": f"injected {fault.status}"}, fault.status, headers)
        return 0.0, None

    def _route(self, request, path: str, token: str | None, body: bytes):
        from starlette.responses import JSONResponse

        parts = [p for p in path.split("/") if p]
        try:
            if parts[:1] == ["api"] and len(parts) >= 2 and parts[1] in ("models", "datasets"):
                repo_type = MODEL if parts[1] == "models" else DATASET
                if len(parts) == 2:
                    return self._list(request, repo_type, token)
                return self._api_repo(request, repo_type, parts[2:], token, body)
            if "resolve" in parts:
                repo_type = DATASET if parts[0] == "datasets" else MODEL
                rest = parts[1:] if repo_type == DATASET else parts
                return self._resolve(request, repo_type, rest, token)
        except _HubError as e:
            return e.response()
        if path.startswith("/api/telemetry/"):
            return JSONResponse({})  # huggingface_hub's send_telemetry (Gradio's analytics)
        if path.startswith("/api/agent-harnesses"):
            return JSONResponse({"standardEnvVars": [], "harnesses": {}})  # huggingface_hub telemetry
        self.unknown.append(f"{request.method} {path}?{request.url.query}")
        return JSONResponse({"error": "unknown route"}, 404)

    def _find(self, repo_type: str, parts: list[str], token: str | None, files: bool = True) -> tuple[Repo, list[str]]:
        """The repo named by the first one or two path parts, checked for access; and the rest.

        As on the Hub, a gated repo's metadata is public (``files=False``); its files are not.
        """
        for n in (2, 1):
            if len(parts) < n:
                continue
            repo_id = "/".join(parts[:n])
            repo_id = self.aliases.get((repo_type, repo_id), repo_id)
            repo = self.repos.get((repo_type, repo_id))
            if repo is not None:
                if repo.private and token not in repo.allowed_tokens:
                    raise _HubError(401, "RepoNotFound", "Repository not found")
                if not files:
                    return repo, parts[n:]
                if repo.gated and token is None:
                    raise _HubError(401, "GatedRepo", "Access to this repo is restricted; you must be authenticated.")
                if repo.gated and token not in repo.allowed_tokens:
                    raise _HubError(403, "GatedRepo", "Access to this repo is restricted; ask for access.")
                return repo, parts[n:]
        raise _HubError(401 if token is None else 404, "RepoNotFound", "Repository not found")

    def _visible(self, repo: Repo, token: str | None) -> bool:
        return not repo.private or token in repo.allowed_tokens

    def _list(self, request, repo_type: str, token: str | None):
        from starlette.responses import JSONResponse

        q = request.query_params
        filters = q.getlist("filter")
        search, author = q.get("search"), q.get("author")
        expand = set(q.getlist("expand"))
        full = q.get("full") in ("True", "true", "1")
        cursor = int(q.get("cursor") or 0)
        limit = int(q["limit"]) if q.get("limit") else None
        with self._lock:
            repos = [r for (t, _), r in sorted(self.repos.items()) if t == repo_type]
        repos = [
            r
            for r in repos
            if self._visible(r, token)
            and all(f in r.tags for f in filters)
            and (not search or search.lower() in r.repo_id.lower())
            and (not author or r.repo_id.split("/")[0] == author)
        ]
        page_size = min(self.page_size, limit) if limit else self.page_size
        page = repos[cursor : cursor + page_size]
        items = [self._info(r, expand=expand, full=full, listing=True) for r in page]
        headers = {}
        if cursor + page_size < len(repos) and not limit:
            params = [(k, v) for k, v in q.multi_items() if k != "cursor"] + [("cursor", str(cursor + page_size))]
            headers["Link"] = (
                f'<{self.url}/api/{request.path_params["path"].split("/")[1]}?{urlencode(params)}>; rel="next"'
            )
        return JSONResponse(items, headers=headers)

    def _info(self, repo: Repo, expand: set[str] | None = None, full: bool = True, listing: bool = False) -> dict:
        base = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
        }
        everything = {
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": repo.sha,
            "private": repo.private,
            "gated": "auto" if repo.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(repo.tags),
            "createdAt": _iso(repo.created),
            "lastModified": _iso(repo.created),
            "siblings": [{"rfilename": p} for p in sorted(repo.files)],
            "cardData": repo.card_data,
        }
        if repo.repo_type == MODEL:
            everything["modelId"] = repo.repo_id
            everything["library_name"] = "transformers" if "config.json" in repo.files else None
        if expand:
            return {**base, **{k: v for k, v in everything.items() if k in expand}}
        if listing and not full:
            keep = ("private", "downloads", "likes", "tags", "createdAt", "modelId", "library_name")
            return {**base, **{k: v for k, v in everything.items() if k in keep}}
        return {**base, **everything}

    def _revision(self, repo: Repo, rev: str) -> None:
        if rev not in ("main", repo.sha):
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")

    def _api_repo(self, request, repo_type: str, parts: list[str], token: str | None, body: bytes):
        from starlette.responses import JSONResponse

        repo, rest = self._find(repo_type, parts, token, files=False)
        if rest == ["auth-check"]:
            self._find(repo_type, parts[: len(parts) - 1], token)
            return JSONResponse({})
        if not rest:
            return JSONResponse(self._info(repo, expand=set(request.query_params.getlist("expand")) or None))
        kind, rev = rest[0], (rest[1] if len(rest) > 1 else "main")
        from urllib.parse import unquote

        rev = unquote(rev)
        if kind == "revision":
            self._revision(repo, rev)
            return JSONResponse(self._info(repo, expand=set(request.query_params.getlist("expand")) or None))
        if kind == "tree":
            self._revision(repo, rev)
            prefix = "/".join(rest[2:]).strip("/")
            recursive = request.query_params.get("recursive") in ("True", "true", "1")
            return JSONResponse(self._tree(repo, prefix, recursive))
        if kind == "paths-info":
            self._revision(repo, rev)
            from urllib.parse import parse_qs

            fields = parse_qs(body.decode())
            if not fields and body.strip().startswith(b"{"):
                fields = {k: v if isinstance(v, list) else [v] for k, v in json.loads(body).items()}
            wanted = fields.get("paths", [])
            entries = []
            for p in wanted:
                p = p.strip("/")
                if p in repo.files:
                    entries.append(self._file_entry(repo, p))
                elif any(f.startswith(p + "/") for f in repo.files) or p == "":
                    entries.append({"type": "directory", "oid": _blob_oid(p.encode()), "size": 0, "path": p})
            return JSONResponse(entries)
        if kind in ("refs",):
            return JSONResponse(
                {
                    "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.sha}],
                    "tags": [],
                    "converts": [],
                }
            )
        self.unknown.append(f"{request.method} {request.url.path}?{request.url.query}")
        return JSONResponse({"error": "unknown route"}, 404)

    def _file_entry(self, repo: Repo, path: str) -> dict:
        data = repo.files[path]
        entry = {"type": "file", "oid": _blob_oid(data), "size": len(data), "path": path}
        if _is_lfs(path):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def _tree(self, repo: Repo, prefix: str, recursive: bool) -> list[dict]:
        if prefix and prefix not in repo.files and not any(f.startswith(prefix + "/") for f in repo.files):
            raise _HubError(404, "EntryNotFound", f"{prefix} does not exist")
        out: dict[str, dict] = {}
        for path in sorted(repo.files):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rel = path[len(prefix) + 1 :] if prefix else path
            pieces = rel.split("/")
            for i in range(1, len(pieces)):
                folder = "/".join(([prefix] if prefix else []) + pieces[:i])
                if recursive or i == 1:
                    out.setdefault(
                        folder, {"type": "directory", "oid": _blob_oid(folder.encode()), "size": 0, "path": folder}
                    )
                if not recursive:
                    break
            if recursive or len(pieces) == 1:
                out[path] = self._file_entry(repo, path)
        return list(out.values())

    def _resolve(self, request, repo_type: str, parts: list[str], token: str | None):
        from urllib.parse import unquote

        from starlette.responses import Response

        i = parts.index("resolve")
        repo, _ = self._find(repo_type, parts[:i], token)
        rev = unquote(parts[i + 1]) if len(parts) > i + 1 else "main"
        self._revision(repo, rev)
        path = unquote("/".join(parts[i + 2 :]))
        if path not in repo.files:
            raise _HubError(404, "EntryNotFound", f"{path} does not exist", {"X-Repo-Commit": repo.sha})
        data = repo.files[path]
        entry = self._file_entry(repo, path)
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        headers = {
            "ETag": f'"{etag}"',
            "X-Repo-Commit": repo.sha,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if "lfs" in entry:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(data))
        status = 200
        rng = request.headers.get("range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].split(",")[0].partition("-")
            if start_s == "":
                start, end = max(0, len(data) - int(end_s)), len(data) - 1
            else:
                start = int(start_s)
                end = min(int(end_s), len(data) - 1) if end_s else len(data) - 1
            if start >= len(data):
                return Response(b"", 416, {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return Response(b"", status, headers)
        return Response(data, status, headers)


class _HubError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self):
        from starlette.responses import JSONResponse

        headers = {"X-Error-Code": self.code, "X-Error-Message": self.message, **self.headers}
        return JSONResponse({"error": self.message}, self.status, headers)


# --- content builders ----------------------------------------------------------------------------


def esm_files(
    base_model: str,
    task_id: str,
    dim: int,
    seed: int,
    legacy: bool = False,
    tag_spelling: str = "BaseLM",
    config_override: dict | None = None,
) -> tuple[dict[str, bytes], list[str]]:
    """The files and tags of one ESM repo in the published format (current or legacy 0.1.0 layout)."""
    from safetensors.numpy import save

    rng = np.random.default_rng(seed)
    weight = (np.eye(dim) + 0.3 * rng.standard_normal((dim, dim))).astype(np.float32)
    bias = (0.1 * rng.standard_normal(dim)).astype(np.float32)
    prefix = "sequential.0" if legacy else "model"
    weights = save({f"{prefix}.weight": weight, f"{prefix}.bias": bias})
    config = esm_config_dict(task_id, base_model, dim, version="0.1.0" if legacy else "0.2.0", developers="emulator")
    config.update(config_override or {})
    tag = f"{tag_spelling}:{base_model}"
    card = (
        "---\nlicense: apache-2.0\n"
        f"datasets:\n- {task_id}\nbase_model: {base_model}\n"
        f"tags:\n- embedding_space_map\n- {tag}\n---\n\n# ESM for {task_id}\n"
    )
    files = {
        "config.json": json.dumps(config, indent=2).encode(),
        "model.safetensors": weights,
        "README.md": card.encode(),
    }
    tags = ["embedding_space_map", tag, "safetensors", "region:us"]
    return files, tags


def add_esm_pool(
    hub: HubEmulator, base_model: str, count: int, dim: int, owner: str = "esm-org", start: int = 0
) -> list[str]:
    """``count`` ESM repos for ``base_model``: a mix of layouts (current, legacy 0.1.0) and tag spellings."""
    ids = []
    for i in range(start, start + count):
        legacy = i % 5 == 4
        spelling = "base_model" if i % 3 == 1 else "BaseLM"
        task = f"emu/task_{i:04d}"
        files, tags = esm_files(base_model, task, dim, seed=i, legacy=legacy, tag_spelling=spelling)
        repo_id = f"{owner}/ESM_emu_task_{i:04d}"
        hub.add_repo(Repo(repo_id, MODEL, files, tags))
        ids.append(repo_id)
    return ids


def add_hostile_esms(hub: HubEmulator, base_model: str, dim: int) -> dict[str, str]:
    """ESM repos that must be skipped with a reason (never sink the ranking); id -> what is wrong."""
    out = {}

    def add(name: str, what: str, files: dict[str, bytes], tags: list[str], **kw) -> None:
        repo_id = f"hostile/{name}"
        hub.add_repo(Repo(repo_id, MODEL, files, tags, **kw))
        out[repo_id] = what

    files, tags = esm_files(base_model, "hostile/notjson", dim, 1)
    add("notjson", "config is not JSON", {**files, "config.json": b"{not json"}, tags)
    files, tags = esm_files(base_model, "hostile/shape", dim, 2)
    from safetensors.numpy import save

    bad = save({"model.weight": np.zeros((dim, dim + 1), np.float32), "model.bias": np.zeros(dim, np.float32)})
    add("shape", "weights of the wrong shape", {**files, "model.safetensors": bad}, tags)
    files, tags = esm_files(base_model, "hostile/noweights", dim, 3)
    files.pop("model.safetensors")
    add("noweights", "no weights file", files, tags)
    files, tags = esm_files(
        base_model, "<img src=x onerror=alert(1)>", dim, 4, config_override={"language": "**bold** [x](javascript:1)"}
    )
    add("markup", "markup in config fields (kept, escaped when shown)", files, tags)
    files, tags = esm_files(base_model, "hostile/gated", dim, 5)
    add("gated", "gated repo", files, tags, gated=True)
    files, tags = esm_files(base_model, "hostile/bigdim", dim, 6)
    cfg = json.loads(files["config.json"])
    cfg["esm_embedding_dim"] = 10**9
    add("bigdim", "absurd dimension in config", {**files, "config.json": json.dumps(cfg).encode()}, tags)
    return out


def parquet_bytes(rows: dict[str, list], class_names: dict[str, list[str]] | None = None) -> bytes:
    """A parquet file (with the ``huggingface`` schema metadata ``datasets`` reads features from)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(rows)
    features = {}
    for name, column in zip(table.column_names, table.columns):
        if class_names and name in class_names:
            features[name] = {"names": class_names[name], "_type": "ClassLabel"}
        else:
            features[name] = {"dtype": str(column.type).replace("double", "float64"), "_type": "Value"}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    table = table.replace_schema_metadata(meta)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=64)
    return buf.getvalue()


def add_parquet_dataset(
    hub: HubEmulator,
    repo_id: str,
    splits: dict[str, dict[str, list]],
    class_names: dict[str, list[str]] | None = None,
    **kw,
) -> Repo:
    """A dataset repo of parquet files under ``data/`` (one per split), as the Hub's uploads look."""
    files = {f"data/{split}-00000-of-00001.parquet": parquet_bytes(rows, class_names) for split, rows in splits.items()}
    files["README.md"] = _dataset_card(repo_id, splits, class_names or {}).encode()
    return hub.add_repo(Repo(repo_id, DATASET, files, ["format:parquet"], **kw))


def _dataset_card(repo_id: str, splits: dict[str, dict[str, list]], class_names: dict[str, list[str]]) -> str:
    """A dataset card whose YAML declares features, splits and data files (as the Hub's parquet repos do)."""
    first = next(iter(splits.values()))
    lines = ["---", "license: mit", "dataset_info:", "  features:"]
    for name, values in first.items():
        lines.append(f"  - name: {name}")
        if name in class_names:
            lines += ["    dtype:", "      class_label:", "        names:"]
            lines += [f"          '{i}': {label}" for i, label in enumerate(class_names[name])]
        else:
            kind = "string" if isinstance(values[0], str) else ("int64" if isinstance(values[0], int) else "float64")
            lines.append(f"    dtype: {kind}")
    lines.append("  splits:")
    for split, rows in splits.items():
        n = len(next(iter(rows.values())))
        lines += [f"  - name: {split}", f"    num_bytes: {40 * n}", f"    num_examples: {n}"]
    lines += ["configs:", "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: data/{split}-*"]
    lines += ["---", f"# {repo_id}", ""]
    return "\n".join(lines)


def quoted(repo_id: str) -> str:
    return quote(repo_id, safe="/")
