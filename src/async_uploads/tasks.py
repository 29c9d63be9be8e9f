"""Moves (and the verification of large uploads) in a background task of Django's Tasks API.

``ASYNC_UPLOADS["MOVE_IN_BACKGROUND"]`` (with ``BACKGROUND_MOVE_MIN_SIZE``) and
``BACKGROUND_VERIFY_MIN_SIZE`` choose which moves leave the request. The save flow
(:mod:`async_uploads.moves`) claims the keys in the saving transaction as always; once it
commits, :func:`dispatch` enqueues one :data:`move_upload` task per such key instead of moving
it there. Until the task finishes, the record holds the temporary key and serves the file from it.

The task is the recovery step the maintenance commands use (:func:`~async_uploads.recovery.complete_move`),
so it is idempotent: a second run finds the copy an earlier one made, or the record already
pointed, and only finishes what is left. A run holds a lease on the row
(``AsyncTempFile.move_heartbeat``, renewed by a thread while it works); before it starts, it
enqueues a check of itself for when the lease would run out. A worker that dies mid-move stops
renewing the lease, and that check, run by any worker (a restarted one), takes the move over.

The Tasks API is ``django.tasks`` on Django 6 and the ``django-tasks`` backport on Django 5.2
(``pip install "django-async-uploads[tasks]"``); :func:`tasks_api` is the one place that
tells them apart. The task is built on first use, so projects without background moves need
neither.
"""

from __future__ import annotations

import datetime
import logging
import threading
import traceback
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.core import checks
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from async_uploads.conf import app_settings
from async_uploads.exceptions import AsyncUploadsImproperlyInstalled
from async_uploads.models import AsyncTempFile
from async_uploads.moves import set_background_dispatcher
from async_uploads.recovery import complete_move

if TYPE_CHECKING:
    from async_uploads.moves import Move

__all__ = [
    "check_task_backend",
    "dispatch",
    "enqueue_move",
    "install",
    "move_upload",  # noqa: F822 (built on first use, by the module's __getattr__)
    "moves_in_background",
    "tasks_api",
]

logger = logging.getLogger("async_uploads")


def tasks_api() -> ModuleType:
    """Return the Tasks API: ``django.tasks`` (Django 6+), else the ``django_tasks`` backport."""
    try:
        from django import tasks as api  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        try:
            import django_tasks as api  # type: ignore[no-redef,unused-ignore]
        except ImportError as e:
            raise AsyncUploadsImproperlyInstalled("django-tasks", "tasks") from e
    return api  # type: ignore[no-any-return,unused-ignore]


def moves_in_background(m: Move) -> bool:
    """Return whether the move ``m`` runs in the background task rather than in the request."""
    if m.temp_file.verification_pending:
        return True  # verified by the task, so moved by it
    if app_settings.MOVE_IN_BACKGROUND is not True:
        return False
    size = m.temp_file.declared_size
    if size is None:
        size = m.temp_file.verified_size
    return size is None or size >= app_settings.BACKGROUND_MOVE_MIN_SIZE


def dispatch(moves: list[Move], using: str) -> list[Move]:
    """Enqueue the moves of one save that run in the background; return the rest (moved in the request).

    Called after the saving transaction commits. A move that cannot be enqueued keeps its key, and
    its row's ``error`` says why: ``retry_async_file_moves`` finishes it.
    """
    here: list[Move] = []
    for m in moves:
        if not moves_in_background(m):
            here.append(m)
            continue
        try:
            enqueue_move(m.temp_file.pk, using)
        except Exception:
            logger.exception(
                "Enqueuing the background move of AsyncTempFile(pk=%s) failed; the record keeps its "
                "temporary key. Run 'manage.py retry_async_file_moves' once the task backend works.",
                m.temp_file.pk,
            )
            error = traceback.format_exc()
            AsyncTempFile.objects.using(using).filter(pk=m.temp_file.pk).update(error=error)
            m.temp_file.error = error
    return here


def enqueue_move(temp_file_id: int, using: str = "default", *, run_after: datetime.datetime | None = None) -> Any:
    """Enqueue :data:`move_upload` for the row ``temp_file_id`` on the configured backend and queue."""
    options: dict[str, Any] = {
        "backend": app_settings.BACKGROUND_MOVE_BACKEND,
        "queue_name": app_settings.BACKGROUND_MOVE_QUEUE,
    }
    if run_after is not None:
        options["run_after"] = run_after
    return _move_task().using(**options).enqueue(temp_file_id, using)


def _run_move(temp_file_id: int, using: str = "default") -> str:
    """Verify (when left to the task) and move the upload of one ``AsyncTempFile`` row; return the outcome.

    Outcomes: those of :func:`~async_uploads.recovery.complete_move` (``"moved"``, ``"done"``,
    ``"orphan"``, ``"refused"``, ``"unclaimed"``), ``"gone"`` (the row was cleaned up),
    ``"failed"`` (an earlier run failed: the row's ``error`` waits for ``retry_async_file_moves``)
    and ``"running"`` (another live run holds the move; a check of it was enqueued). A failure
    records the traceback on the row, keeps the record on its temporary key, and raises.
    """
    rows = AsyncTempFile.objects.using(using)
    temp_file = rows.select_related("content_type").filter(pk=temp_file_id).first()
    if temp_file is None:
        return "gone"
    if temp_file.error is not None:
        return "failed"
    if temp_file.object_pk is None:
        return "unclaimed"
    lease = datetime.timedelta(seconds=int(app_settings.BACKGROUND_MOVE_LEASE))
    now = timezone.now()
    free = Q(move_heartbeat__isnull=True) | Q(move_heartbeat__lt=now - lease)
    if not rows.filter(free, pk=temp_file_id).update(move_heartbeat=now):
        # Another run is alive: look again when its lease would run out.
        holder = rows.filter(pk=temp_file_id).values_list("move_heartbeat", flat=True).first()
        _enqueue_check(temp_file_id, using, (holder or now) + lease)
        return "running"
    temp_file.move_heartbeat = now
    try:
        if _still_to_move(temp_file, using):
            # If this worker dies, this check (run by any worker) takes the move over.
            try:
                _enqueue_check(temp_file_id, using, now + lease)
            except Exception:
                logger.exception(
                    "Enqueuing the check of the background move of AsyncTempFile(pk=%s) failed; should this "
                    "worker die, cleanup_async_temp_files finishes the move.",
                    temp_file_id,
                )
        with _Heartbeat(temp_file_id, using, lease.total_seconds() / 3):
            try:
                return complete_move(temp_file, using)
            except Exception:
                logger.exception(
                    "The background move of AsyncTempFile(pk=%s) failed; the record keeps its temporary key. "
                    "Run 'manage.py retry_async_file_moves' once the cause is fixed.",
                    temp_file_id,
                )
                rows.filter(pk=temp_file_id).update(error=traceback.format_exc())
                raise
    finally:
        rows.filter(pk=temp_file_id).update(move_heartbeat=None)


# The worker finds the task by this name (``async_uploads.tasks.move_upload``).
_run_move.__name__ = _run_move.__qualname__ = "move_upload"


def _still_to_move(temp_file: AsyncTempFile, using: str) -> bool:
    field = temp_file.get_field()
    manager = field.model._base_manager.using(using)
    return manager.filter(pk=temp_file.object_pk, **{field.attname: temp_file.key}).exists()


def _enqueue_check(temp_file_id: int, using: str, when: datetime.datetime) -> None:
    backend = tasks_api().task_backends[app_settings.BACKGROUND_MOVE_BACKEND]
    if not getattr(backend, "supports_defer", False):
        return  # without deferred tasks, cleanup_async_temp_files finishes a move whose worker died
    enqueue_move(temp_file_id, using, run_after=when + datetime.timedelta(seconds=1))


class _Heartbeat:
    """Renew a row's lease every ``every`` seconds from a thread, while the ``with`` block runs."""

    def __init__(self, temp_file_id: int, using: str, every: float) -> None:
        self.temp_file_id, self.using, self.every = temp_file_id, using, every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="async-uploads-move-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    AsyncTempFile.objects.using(self.using).filter(pk=self.temp_file_id).update(
                        move_heartbeat=timezone.now()
                    )
                except Exception:  # a locked database: the next beat tries again
                    logger.warning("Renewing the lease of AsyncTempFile(pk=%s) failed.", self.temp_file_id)
        finally:
            connections.close_all()  # this thread's own connections


_task: Any = None
_task_lock = threading.Lock()


def _move_task() -> Any:
    global _task
    with _task_lock:
        if _task is None:
            # Built for the configured backend and queue (the decorator validates them); each
            # enqueue names them again, so a change of the settings is followed.
            _task = tasks_api().task(
                backend=app_settings.BACKGROUND_MOVE_BACKEND, queue_name=app_settings.BACKGROUND_MOVE_QUEUE
            )(_run_move)
        return _task


def __getattr__(name: str) -> Any:
    if name == "move_upload":
        return _move_task()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_task_backend() -> list[checks.CheckMessage]:
    """Return the system check messages of the task backend background moves are enqueued on."""
    try:
        api = tasks_api()
    except AsyncUploadsImproperlyInstalled as e:
        return [
            checks.Error(
                f"Background moves are switched on, but the Tasks API is missing: {e}",
                hint="On Django 5.2 install the backport (the extra does); Django 6 has it built in.",
                id="async_uploads.E019",
            )
        ]
    alias = app_settings.BACKGROUND_MOVE_BACKEND
    try:
        backend = api.task_backends[alias]
    except Exception as e:
        return [
            checks.Error(
                f"ASYNC_UPLOADS['BACKGROUND_MOVE_BACKEND'] is {alias!r}, which is not a working backend of TASKS: {e}",
                hint='Add it to TASKS, e.g. {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}.',
                id="async_uploads.E019",
            )
        ]
    queue = app_settings.BACKGROUND_MOVE_QUEUE
    messages: list[checks.CheckMessage] = []
    if backend.queues and queue not in backend.queues:
        messages.append(
            checks.Error(
                f"ASYNC_UPLOADS['BACKGROUND_MOVE_QUEUE'] is {queue!r}, which TASKS[{alias!r}] does not serve "
                f"(its QUEUES: {', '.join(sorted(backend.queues))}).",
                hint=f"Add {queue!r} to TASKS[{alias!r}]['QUEUES'], or choose one of its queues.",
                id="async_uploads.E019",
            )
        )
    if not getattr(backend, "supports_defer", False):
        messages.append(
            checks.Warning(
                f"TASKS[{alias!r}] ({type(backend).__name__}) cannot run a task later, so a background move "
                "whose worker dies is not taken over by another worker; cleanup_async_temp_files finishes it.",
                hint="Use a backend that supports run_after (django_tasks_db.DatabaseBackend, or "
                "django_tasks_rq.RQBackend with a worker started with --with-scheduler).",
                id="async_uploads.W023",
            )
        )
    return messages


def install() -> None:
    """Hand the save flow's background moves to :func:`dispatch` (the app's ``ready()`` calls it)."""
    set_background_dispatcher(dispatch)
