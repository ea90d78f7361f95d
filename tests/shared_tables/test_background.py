"""Publishing never holds the user's request: off Lambda it runs in a background thread pool."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from content.services import PositionChange, position_set
from markets.models import Market
from portal import tasks
from portal.shared_tables import publisher
from positioning.tables import SharedTables
from tests.factories import ContentItemFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_change_returns_before_publishing_runs_and_is_published_after(
    local_tables: SharedTables, au: Market, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the thread pool runner (as `make run` and gunicorn use) and a publish that is slow
    settings.TASKS_LOCAL_RUNNER = "thread"
    started, release = threading.Event(), threading.Event()
    real_publish = publisher.publish_task

    def slow_publish() -> dict[str, Any]:
        started.set()
        assert release.wait(10), "the test never released the publisher"
        return real_publish()

    monkeypatch.setattr(publisher, "publish_task", slow_publish)
    item = ContentItemFactory(upstream_id="c-bg")

    # When an editor's change commits
    position_set(actor=None, market=au, item=item, change=PositionChange(state="hidden"))

    # Then the service has returned while publishing is still running in the background
    assert started.wait(10), "publishing never started"
    assert local_tables.get_item("positions", ("AU", "c-bg")) is None

    # And once the publisher finishes, the change is in the shared tables
    release.set()
    tasks.wait_for_background_tasks()
    stored = local_tables.get_item("positions", ("AU", "c-bg"))
    assert stored is not None and stored["state"] == "hidden"


def test_a_failing_background_task_is_logged_and_never_reaches_the_caller(
    settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TASKS_LOCAL_RUNNER = "thread"

    def broken() -> None:
        raise RuntimeError("tables on fire")

    monkeypatch.setattr(publisher, "publish_task", broken)
    tasks.dispatch("shared_tables.publish")
    tasks.wait_for_background_tasks()
    assert "shared_tables.publish failed" in caplog.text
    assert "tables on fire" in caplog.text


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(tasks.UnknownTask):
        tasks.dispatch("no.such.task")


def test_a_burst_of_commits_queues_one_publish_behind_the_running_one(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the thread pool runner and a publish run that is busy until released
    settings.TASKS_LOCAL_RUNNER = "thread"
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def counted_publish() -> dict[str, Any]:
        runs.append(1)
        started.set()
        assert release.wait(10), "the test never released the publisher"
        return {}

    monkeypatch.setattr(publisher, "publish_task", counted_publish)

    # When one commit starts a run, and 50 more commits ask for publishing while it runs
    tasks.dispatch("shared_tables.publish")
    assert started.wait(10), "publishing never started"
    for _ in range(50):
        tasks.dispatch("shared_tables.publish")

    # Then one more run waits (it will see all 50 commits' rows), not 50 runs of the same rows
    release.set()
    tasks.wait_for_background_tasks()
    assert len(runs) == 2

    # And a commit after that starts a run again
    tasks.dispatch("shared_tables.publish")
    tasks.wait_for_background_tasks()
    assert len(runs) == 3
