"""Background work, dispatched by name: the one place that knows how work leaves a request.

Services hand work over with `dispatch("shared_tables.publish")` and never import the code that
runs it, so an area's services and its background jobs cannot import each other in a circle.
Each area registers its tasks (a name and the dotted path of a module-level function taking
JSON-able keyword arguments) in its AppConfig.ready().

Where the work runs:
- on Lambda, always as a Zappa asynchronous invocation of the task's own function (Lambda
  retries a failed async invoke twice, so every task is idempotent);
- elsewhere, by the task's `local` policy: "inline" runs it now (after the commit that asked
  for it), "skip" leaves it to the scheduled sweep or a management command.
Dispatch never fails the caller's request: a failure is logged, and the sweep catches up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

LocalPolicy = Literal["inline", "skip"]


@dataclass(frozen=True)
class Task:
    name: str
    path: str
    local: LocalPolicy


_TASKS: dict[str, Task] = {}


class UnknownTask(LookupError):
    """No task is registered under that name."""


def register(name: str, path: str, *, local: LocalPolicy = "inline") -> None:
    """Register the function at dotted `path` as the background task `name`."""
    _TASKS[name] = Task(name=name, path=path, local=local)


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
        elif task.local == "inline":
            function(**kwargs)
    except Exception:  # never fail the user's request: the scheduled sweep picks the work up
        logger.exception("Background task %s failed to run; the scheduled sweep will retry it.", name)
