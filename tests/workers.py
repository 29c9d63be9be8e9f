"""Real task workers for the background move tests (a pytest plugin).

A worker is a separate process, started by a test: ``manage.py db_worker`` of django-tasks-db, or
``manage.py rqworker`` of django-rq (with django-tasks-rq's job class) against the Redis server
on 127.0.0.1:6379. It runs the test settings, pointed at the test's own database (a file on
SQLite, see tests/settings.py), ``MEDIA_ROOT``, ``ASYNC_UPLOADS`` and the S3 / Azure servers of
the session. RQ uses a Redis database of its own per xdist worker and flushes only that one;
where Redis does not answer, the RQ tests skip loudly, and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def worker_environment(**extra: str) -> dict[str, str]:
    """The environment of a worker process: the test's database, media, settings and servers."""
    from django.conf import settings
    from django.db import connection

    from tests.cloudapp.models import azure_storage, s3_storage

    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": path,
        "ASYNC_UPLOADS_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "ASYNC_UPLOADS_TEST_MEDIA": str(settings.MEDIA_ROOT),
        "ASYNC_UPLOADS_TEST_SETTINGS": json.dumps(getattr(settings, "ASYNC_UPLOADS", {})),
        "ASYNC_UPLOADS_TEST_REDIS_DB": str(settings.RQ_QUEUES[settings.RQ_QUEUE]["DB"]),
        **extra,
    }
    if s3_storage.online:
        env["ASYNC_UPLOADS_TEST_S3_URL"] = str(s3_storage.endpoint_url)
    if azure_storage.online:
        env["ASYNC_UPLOADS_TEST_AZURE"] = str(azure_storage.connection_string)
    return env


class Worker:
    """One worker process; its output goes to ``log``."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]):
        self.log = log
        self.args = args
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "django", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to finish or to record anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, worker: Worker | None = None) -> Any:
    """Poll ``condition`` until it is truthy (and return it); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if worker is not None and not worker.alive():
            pytest.fail(f"the worker exited while waiting for {what}:\n{worker.output()}")
        if time.monotonic() > deadline:
            log = f"\nworker log:\n{worker.output()}" if worker is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{log}")
        time.sleep(0.05)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start a worker process: ``start_worker("db")`` (django-tasks-db) or ``start_worker("rq")``.

    Every worker a test started is stopped when it ends.
    """
    started: list[Worker] = []

    def start(kind: str, **env: str) -> Worker:
        from django.conf import settings

        if kind == "db":
            args = ["db_worker", "--interval", "0.05", "--no-startup-delay", "--backend", "default"]
        elif kind == "rq":
            args = ["rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler", settings.RQ_QUEUE]
        else:  # pragma: no cover
            raise ValueError(kind)
        worker = Worker(args, tmp_path / f"worker-{kind}-{len(started)}.log", worker_environment(**env))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def redis_queue() -> Iterator[Any]:
    """The Redis database of this xdist worker's RQ queue, flushed before and after the test."""
    from django.conf import settings

    try:
        import django_rq

        connection = django_rq.get_connection(settings.RQ_QUEUE)
        connection.ping()
    except Exception as e:
        message = f"!!! RQ TESTS NOT RUN: the Redis server on 127.0.0.1:6379 does not answer ({e})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires it: .ci/run starts it)")
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    connection.flushdb()  # this database only: other users of the server keep theirs
    yield connection
    connection.flushdb()
