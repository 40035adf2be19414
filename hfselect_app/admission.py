"""Queue admission: a real bound on the rankings and trainings waiting or running, overall and per client.

The validators take a waiting ticket before Gradio queues an event (:func:`admit`); the handlers
wrapped in :func:`admitted` turn it into a running ticket and give it back however the job ends.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from hfselect_core import limits
from hfselect_core.errors import BusyError, HFSelectError
from hfselect_core.settings import env_flag

from .progress import CANCELLED
from .text import md_message, warn


@dataclass
class Ticket:
    session: str
    ip: str
    since: float
    running: bool = False
    # Set by Cancel: the running job checks it between units of work (``should_stop``), so it
    # stops inside a long step too, not only when Gradio stops asking for its next update.
    stop: threading.Event = field(default_factory=threading.Event)
    # Set when the job is about to show its results: from then on a Cancel no longer stops it
    # (nor says "cancelled"), so the status never claims the previous run for the new results.
    delivered: bool = False


class JobAdmission:
    """A real bound on waiting plus running jobs, overall and per client, checked before queueing.

    Gradio's ``queue(max_size=...)`` compares the queue length before its validators run, so 50
    requests arriving at once are all admitted. Here every job takes a ticket under a lock in the
    validator (before the event is queued) and gives it back when its handler ends or is
    cancelled. A ticket whose job never started (the client left while waiting) expires after
    ``pending_ttl_s``, so a lost ticket cannot block anyone for long.

    ``max_total`` and ``max_per_client`` are callables so a deployment's environment is read on use.
    """

    def __init__(
        self,
        max_total: Callable[[], int] = limits.max_queued_jobs,
        max_per_client: Callable[[], int] = limits.max_jobs_per_client,
        ip_factor: int = 4,
        pending_ttl_s: float = 900.0,
    ):
        self._lock = threading.Lock()
        self._tickets: list[Ticket] = []
        self.max_total = max_total
        self.max_per_client = max_per_client
        self.ip_factor = ip_factor
        self.pending_ttl_s = pending_ttl_s

    def _expire(self, now: float) -> None:
        self._tickets = [t for t in self._tickets if t.running or now - t.since < self.pending_ttl_s]

    def counts(self, session: str | None = None, ip: str | None = None) -> tuple[int, int, int]:
        """(all tickets, this session's, this IP's)."""
        with self._lock:
            self._expire(time.monotonic())
            return self._counts(session, ip)

    def _counts(self, session: str | None, ip: str | None) -> tuple[int, int, int]:
        mine = sum(1 for t in self._tickets if session and t.session == session)
        same_ip = sum(1 for t in self._tickets if ip and t.ip == ip)
        return len(self._tickets), mine, same_ip

    def admit(self, session: str, ip: str, what: str = "ranking") -> None:
        """Take a waiting ticket, or raise :class:`BusyError` saying which bound was reached."""
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            total, mine, same_ip = self._counts(session, ip)
            per_client = self.max_per_client()
            if mine >= per_client or same_ip >= per_client * self.ip_factor:
                raise BusyError(
                    f"You already have {max(mine, same_ip)} job(s) waiting or running; at most {per_client} per "
                    f"client ({limits.MAX_JOBS_PER_CLIENT_ENV}). Wait for one to finish or cancel it, then "
                    f"start the {what} again."
                )
            if total >= self.max_total():
                raise BusyError(
                    f"The app is busy: {total} jobs are waiting or running, the most it takes "
                    f"({limits.QUEUE_SIZE_ENV}). Try again in a minute."
                )
            self._tickets.append(Ticket(session, ip, now))

    def start(self, session: str, ip: str) -> Ticket:
        """Mark the oldest waiting ticket of ``session`` as running (a new one if it has none)."""
        with self._lock:
            for ticket in self._tickets:
                if ticket.session == session and not ticket.running:
                    ticket.running = True
                    return ticket
            ticket = Ticket(session, ip, time.monotonic(), running=True)
            self._tickets.append(ticket)
            return ticket

    def finish(self, ticket: Ticket) -> None:
        with self._lock:
            self._tickets = [t for t in self._tickets if t is not ticket]

    def stop_session(self, session: str) -> int:
        """Ask every job of ``session`` to stop: a running one at its next check (``should_stop``), a
        waiting one as soon as it starts (its ticket is kept until then, so it still counts)."""
        with self._lock:
            mine = [t for t in self._tickets if t.session == session]
        for ticket in mine:
            ticket.stop.set()
        return len(mine)

    def cancel_session(self, session: str) -> bool:
        """Ask every job of ``session`` that has not shown its results yet to stop; true if there was one
        (then it ends without showing them), false if they had all finished (their results stand)."""
        with self._lock:
            pending = [t for t in self._tickets if t.session == session and not t.delivered]
            for ticket in pending:
                ticket.stop.set()
        return bool(pending)

    def claim_delivery(self, ticket: Ticket) -> bool:
        """Called by a job just before it shows its results: true (and no Cancel can claim it any more)
        unless a Cancel came first. Under the lock, so a Cancel and the results never both win."""
        with self._lock:
            if ticket.stop.is_set():
                return False
            ticket.delivered = True
            return True

    def drop_waiting(self, session: str) -> int:
        """Give back the waiting tickets of ``session`` (its queued jobs were cancelled)."""
        with self._lock:
            before = len(self._tickets)
            self._tickets = [t for t in self._tickets if t.running or t.session != session]
            return before - len(self._tickets)


def zero_gpu() -> bool:
    """On ZeroGPU hardware (``SPACES_ZERO_GPU``, set by Spaces) jobs run in a GPU worker process: a stop
    flag of this process cannot reach them (nor be pickled there), so Cancel uses Gradio's cancel."""
    return env_flag(os.environ.get("SPACES_ZERO_GPU", ""))


def client_key(headers: dict | None, host: str | None, session_hash: str | None) -> tuple[str, str]:
    """(session, ip) of a request: behind a proxy (Spaces) the last X-Forwarded-For address, the one the
    proxy itself added (earlier entries are whatever the client sent), else the peer address."""
    headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    forwarded = headers.get("x-forwarded-for", "").split(",")[-1].strip()
    return session_hash or "", forwarded or host or ""


# The one admission state of this process (every tab's jobs count against the same bounds).
JOBS = JobAdmission()


def request_client(request: gr.Request | None) -> tuple[str, str]:
    """(session, ip) of a Gradio request."""
    client = getattr(request, "client", None)
    return client_key(
        dict(getattr(request, "headers", {}) or {}),
        getattr(client, "host", None),
        getattr(request, "session_hash", None),
    )


def admit(request: gr.Request | None, what: str) -> str | None:
    """Take a waiting ticket for this client (called by the validators); the refusal message, or None."""
    if request is None:
        return None
    try:
        JOBS.admit(*request_client(request), what=what)
    except HFSelectError as e:
        return str(e)
    return None


def refusal_outputs(message: str, n_outputs: int) -> tuple:
    """Outputs of a job turned away: a warning toast, the reason in the status (first output), the rest unchanged."""
    warn(message)
    return (f"⚠️ {md_message(message)}",) + (gr.skip(),) * (n_outputs - 1)


def admitted(what: str, n_outputs: int) -> Callable[[Callable], Callable]:
    """Run a generator handler under a JobAdmission ticket, given back however the job ends.

    The handler gets a ``request`` parameter (gradio injects it by its type); direct Python calls
    without one are not counted. A handler with a ``should_stop`` parameter is given the ticket's
    stop check (true once the client pressed Cancel). A job that arrives without a waiting ticket (the share-link
    autorun has no validator) is admitted here or turned away with the reason.
    """

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        keyword_only = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        positional = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        # gradio passes the inputs and its special arguments by position; a keyword-only
        # ``should_stop`` stays out of its way (and out of the API).
        index = len(positional)
        takes_stop = any(p.name == "should_stop" for p in keyword_only)
        takes_claim = any(p.name == "may_deliver" for p in keyword_only)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            args = list(args)
            request = args.pop(index) if len(args) > index else kwargs.pop("request", None)
            ticket = None
            if request is not None:
                session, ip = request_client(request)
                if JOBS.counts(session)[1] == 0:
                    refused = admit(request, what)
                    if refused:
                        yield refusal_outputs(refused, n_outputs)
                        return
                ticket = JOBS.start(session, ip)
                if ticket.stop.is_set():  # cancelled while it waited in the queue
                    JOBS.finish(ticket)
                    yield (CANCELLED,) + (gr.skip(),) * (n_outputs - 1)
                    return
                if takes_stop and kwargs.get("should_stop") is None and not zero_gpu():
                    kwargs["should_stop"] = ticket.stop.is_set
                if takes_claim and kwargs.get("may_deliver") is None and not zero_gpu():
                    kwargs["may_deliver"] = functools.partial(JOBS.claim_delivery, ticket)
            try:
                yield from fn(*args, **kwargs)
            finally:
                if ticket is not None:
                    JOBS.finish(ticket)

        extra = inspect.Parameter(
            "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request | None
        )
        run.__signature__ = signature.replace(parameters=[*positional, extra, *keyword_only])
        run.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request | None}
        return run

    return decorate


def cancel_waiting(request: gr.Request | None = None) -> str:
    """The Cancel buttons: this session's jobs stop, a running one at its next check (between two
    ESMs or batches), a waiting one when it starts; each gives its ticket back as it ends."""
    if request is not None:
        JOBS.stop_session(request_client(request)[0])
    return "Cancelled."


def request_cancel(request: gr.Request | None = None) -> bool:
    """The Rank tab's Cancel: like :func:`cancel_waiting`; true if a job of this session was stopped
    before showing its results, false if they had all finished (without a request: true)."""
    if request is None:
        return True
    return JOBS.cancel_session(request_client(request)[0])
