"""Background work, dispatched by name: the one place that knows how work leaves a request.

Services hand work over with `dispatch("shared_tables.publish")` and never import the code that
runs it, so an area's services and its background jobs cannot import each other in a circle.
Each area registers its tasks (a name and the dotted path of a module-level function taking
JSON-able keyword arguments) in its AppConfig.ready().

Where the work runs:
- on Lambda, always as a Zappa asynchronous invocation of the task's own function (Lambda
  retries a failed async invoke twice, so every task is idempotent);
- elsewhere, a task registered with `local="run"` runs in this process's background thread pool
  (TASKS_LOCAL_RUNNER = "thread": `make run`, gunicorn), so the request that asked for it
  returns as soon as its transaction commits, or right away in the caller's thread
  (TASKS_LOCAL_RUNNER = "inline": the test settings, for deterministic tests);
  `local="skip"` leaves the work to the scheduled sweep or a management command.
Dispatch never fails the caller's request: a failure is logged, and the sweep catches up.

A task registered with `coalesce=True` does all the work there is (drain the outbox, deliver
what is due), so in the local pool it runs once at a time per process: a request that arrives
during a run makes that run go once more when it ends (for work committed after it started),
however many requests arrived. Under 50 commits a second that is one drain after another, not
a queue of 50 drains of the same rows. (On Lambda each request is its own invocation; the
drains claim their rows, see portal/shared_tables/publisher.py.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

LocalPolicy = Literal["run", "skip"]


@dataclass(frozen=True)
class Task:
    name: str
    path: str
    local: LocalPolicy
    coalesce: bool = False


_TASKS: dict[str, Task] = {}


class UnknownTask(LookupError):
    """No task is registered under that name."""


def register(name: str, path: str, *, local: LocalPolicy = "run", coalesce: bool = False) -> None:
    """Register the function at dotted `path` as the background task `name` (see the module's
    docstring for `coalesce`: only for tasks without arguments that do all the work there is)."""
    _TASKS[name] = Task(name=name, path=path, local=local, coalesce=coalesce)


def registered() -> dict[str, Task]:
    """Return the registered tasks by name."""
    return dict(_TASKS)


def on_lambda() -> bool:
    """Return whether this process runs inside AWS Lambda."""
    return bool(settings.ON_LAMBDA)


def dispatch(name: str, **kwargs: Any) -> None:
    """Run the task `name` in the background (see the module's docstring); UnknownTask if unknown."""
    try:
        task = _TASKS[name]
    except KeyError:
        raise UnknownTask(f"No background task is registered as {name!r}.") from None
    try:
        function = import_string(task.path)
        if on_lambda():
            # Only on Lambda, where Zappa is in the package: it invokes this same function
            # asynchronously, by its dotted path, with the same keyword arguments.
            from zappa.asynchronous import run

            run(function, args=(), kwargs=kwargs)
        elif task.local == "run":
            if settings.TASKS_LOCAL_RUNNER == "inline":
                function(**kwargs)
            else:
                if task.coalesce:
                    with _pool_lock:
                        if name in _running:
                            _again.add(name)  # the running one goes once more when it ends
                            return
                        _running.add(name)
                try:
                    future = _executor().submit(_run_in_background, name, function, kwargs, task.coalesce)
                except Exception:
                    with _pool_lock:
                        _running.discard(name)  # never started: the next request may start it
                    raise
                with _pool_lock:
                    _pending.add(future)
                future.add_done_callback(_forget)
    except Exception:  # never fail the user's request: the scheduled sweep picks the work up
        logger.exception("Background task %s failed to run; the scheduled sweep will retry it.", name)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pending: set[Future[None]] = set()
# Coalescing tasks running in the pool, and those asked for again during their run, by name.
_running: set[str] = set()
_again: set[str] = set()


def _forget(future: Future[None]) -> None:
    with _pool_lock:
        _pending.discard(future)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.TASKS_LOCAL_THREADS, thread_name_prefix="task")
        return _pool


def _run_in_background(
    name: str, function: Callable[..., Any], kwargs: dict[str, Any], coalesce: bool = False
) -> None:
    try:
        while True:
            try:
                function(**kwargs)
            except Exception:
                logger.exception("Background task %s failed; the scheduled sweep will retry it.", name)
            if not coalesce:
                return
            with _pool_lock:
                if name not in _again:
                    _running.discard(name)
                    return
                _again.discard(name)
    finally:
        # A pool thread keeps no database connection between tasks.
        close_old_connections()
        connections.close_all()


def wait_for_background_tasks(timeout: float = 30.0) -> None:
    """Block until the tasks submitted so far have run (for tests, commands and benchmarks)."""
    with _pool_lock:
        pending = list(_pending)
    done, not_done = wait(pending, timeout=timeout)
    if not_done:
        raise TimeoutError(f"{len(not_done)} background task(s) still running after {timeout:g} s.")
