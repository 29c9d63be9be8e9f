"""The app's database models: the record of every issued upload key.

The async file fields live in :mod:`async_uploads.fields`; they are importable from here too
(``async_uploads.models.AsyncFileField``, the alliance-platform-storage import path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models

from async_uploads.acceptance import (
    PENDING_DIMENSIONS_ATTR,
    PENDING_MOVES_ATTR,
    PREVIOUS_VALUES_ATTR,
    REFUSED_VALUES_ATTR,
    RefusedKey,
)
from async_uploads.fields import (
    AsyncFieldFile,
    AsyncFileField,
    AsyncFileMixin,
    AsyncImageField,
    AsyncImageFieldFile,
)
from async_uploads.inputs import AsyncFileInputData

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = [
    "PENDING_DIMENSIONS_ATTR",
    "PENDING_MOVES_ATTR",
    "PREVIOUS_VALUES_ATTR",
    "REFUSED_VALUES_ATTR",
    "AsyncFieldFile",
    "AsyncFileField",
    "AsyncFileInputData",
    "AsyncFileMixin",
    "AsyncImageField",
    "AsyncImageFieldFile",
    "AsyncTempFile",
    "RefusedKey",
    "UploadSession",
]


class AsyncTempFile(models.Model):
    """A key issued for an upload, from the moment the upload URL is generated until cleanup.

    Created by :class:`~async_uploads.views.GenerateUploadUrlView` (or the GraphQL mutation) with
    the temporary ``key``, the ``original_filename``, the field (``content_type`` +
    ``field_name``), who asked (``user`` or ``session_key``) and for which record
    (``instance_pk``, empty for a new record). When a record is saved with the key,
    ``object_pk`` and ``moved_to_location`` are set in the same transaction; after commit the
    object is moved there. Rows are kept until ``cleanup_async_temp_files`` removes them, so a
    second submission of the same key is recognised. ``error`` holds the traceback of a failed
    move; such rows are left for ``retry_async_file_moves``.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    original_filename = models.TextField()
    #: The temporary key; see ``AsyncUploadStorage.generate_temporary_path``.
    key = models.CharField(max_length=500, unique=True)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    field_name = models.CharField(max_length=100)
    #: Primary key of the record the key was issued for; ``None`` for a new record.
    instance_pk = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (None: a new record)
    # SET_NULL keeps the row (and so the cleanup of its object) when the user is deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    session_key = models.CharField(max_length=64, blank=True, default="")
    #: Size in bytes the client declared when asking for the upload URL.
    declared_size = models.PositiveBigIntegerField(null=True, blank=True)
    #: Content type the client declared when asking for the upload URL.
    declared_content_type = models.CharField(max_length=255, blank=True, default="")
    #: When an upload through the server's own upload view completed.
    uploaded_at = models.DateTimeField(null=True, blank=True)
    #: Primary key of the record that took this key; set in the saving transaction.
    object_pk = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (None: unclaimed)
    #: When a record took this key.
    claimed_at = models.DateTimeField(null=True, blank=True)
    #: The permanent name the object is (being) moved to.
    moved_to_location = models.TextField(blank=True)
    #: Traceback of a failed move; such rows are kept until a retry succeeds.
    error = models.TextField(null=True, blank=True)  # noqa: DJ001 (as in alliance-platform-storage: None means no error)
    #: The version of the object that was verified (``AsyncUploadStorage.object_version``), set with
    #: the claim; the move copies only that version. ``None``: the storage cannot tell versions apart.
    verified_version = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (None: not bound)
    #: The object has not been verified yet: it was accepted on its declared size for the
    #: background task to verify (``ASYNC_UPLOADS["BACKGROUND_VERIFY_MIN_SIZE"]``). Until the task
    #: clears it, the record that took the key serves no file.
    verification_pending = models.BooleanField(default=False)
    #: When the background task moving this upload last showed it was alive (``None``: no task
    #: is running it). A run finding it older than ``BACKGROUND_MOVE_LEASE`` takes the move over.
    move_heartbeat = models.DateTimeField(null=True, blank=True)

    #: The size the verification on submission found (not stored; ``None``: not verified here).
    verified_size: int | None = None

    class Meta:
        verbose_name = "async temporary file"
        indexes = [
            # The upload quotas count an uploader's unsaved rows (object_pk IS NULL) on every
            # request for an upload URL: one index for users, one for anonymous sessions.
            models.Index(fields=["user", "object_pk"], name="asynctemp_user_pending_idx"),
            models.Index(fields=["session_key", "object_pk"], name="asynctemp_session_pending_idx"),
        ]

    def __str__(self) -> str:
        return self.key

    @classmethod
    def get_by_key(cls, key: str, using: str | None = None) -> AsyncTempFile | None:
        """Return the record of exactly ``key`` (compared in Python too: MySQL collations ignore case)."""
        found = next(iter(cls.objects.db_manager(using).filter(key=key)[:1]), None)
        return found if found is not None and found.key == key else None

    @classmethod
    def create_for_field(
        cls,
        field: AsyncFileMixin,
        filename: str,
        *,
        request: HttpRequest | None = None,
        instance: models.Model | None = None,
        size: int | None = None,
        content_type: str = "",
        key: str | None = None,
    ) -> AsyncTempFile:
        """Record a temporary key (``key``, or a new one) for an upload of ``filename`` to ``field``."""
        temp_file = cls.new_for_field(
            field, filename, request=request, instance=instance, size=size, content_type=content_type, key=key
        )
        temp_file.save(force_insert=True)
        return temp_file

    @classmethod
    def new_for_field(
        cls,
        field: AsyncFileMixin,
        filename: str,
        *,
        request: HttpRequest | None = None,
        instance: models.Model | None = None,
        size: int | None = None,
        content_type: str = "",
        key: str | None = None,
    ) -> AsyncTempFile:
        """Return the unsaved record that :meth:`create_for_field` saves (an anonymous session is saved here)."""
        user = getattr(request, "user", None) if request is not None else None
        user_id = user.pk if user is not None and user.is_authenticated else None
        session_key = ""
        if request is not None and user_id is None and hasattr(request, "session"):
            if request.session.session_key is None:
                request.session.save()
            session_key = request.session.session_key or ""
        return cls(
            original_filename=filename,
            content_type=ContentType.objects.get_for_model(field.model, for_concrete_model=False),
            field_name=field.name,
            key=key or field.storage.generate_temporary_path(filename, max_length=field.max_length),
            instance_pk=None if instance is None else str(instance.pk),
            user_id=user_id,
            session_key=session_key,
            declared_size=size,
            declared_content_type=content_type or "",
        )

    def is_for_field(self, field: AsyncFileMixin) -> bool:
        """Return whether this key was issued for ``field``."""
        ct = ContentType.objects.get_for_model(field.model, for_concrete_model=False)
        return self.content_type_id == ct.pk and self.field_name == field.name

    def is_owned_by(self, request: HttpRequest) -> bool:
        """Return whether ``request`` comes from the user (or anonymous session) the key was issued to."""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return self.user_id is not None and self.user_id == user.pk
        if self.user_id is not None:
            return False
        session = getattr(request, "session", None)
        return bool(self.session_key) and session is not None and session.session_key == self.session_key

    @classmethod
    def awaits_verification(cls, key: str, using: str | None = None) -> bool:
        """Return whether the upload at the temporary ``key`` waits for the background task to verify it."""
        found = next(iter(cls.objects.db_manager(using).filter(key=key, verification_pending=True)[:1]), None)
        return found is not None and found.key == key

    def get_field(self) -> AsyncFileMixin:
        """Return the model field this key was issued for."""
        model = self.content_type.model_class()
        if model is None:
            raise LookupError(f"The model of {self.content_type} no longer exists.")
        return model._meta.get_field(self.field_name)  # type: ignore[return-value]


class UploadSession(models.Model):
    """An upload in parts (S3 multipart, Azure blocks, the filesystem's part view), from start to end.

    Bound like a temporary key to the field (``content_type`` + ``field_name``), the record
    (``instance_pk``) and the uploader (``user`` or ``session_key``). ``key`` is the temporary key
    the parts are assembled at; ``upload_id`` the storage's id of the upload. While ``open`` the
    session counts in the uploader's quotas by ``declared_size``. Completion checks the parts,
    assembles the object and records an :class:`AsyncTempFile` for the key, which is then
    submitted as any other upload; abort removes every part.
    """

    class State(models.TextChoices):
        OPEN = "open", "open"
        COMPLETED = "completed", "completed"
        ABORTED = "aborted", "aborted"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    #: After this, an open session can no longer be used and the cleanup aborts it.
    expires_at = models.DateTimeField(db_index=True)
    key = models.CharField(max_length=500, unique=True)
    #: The storage's id of the upload (S3's UploadId; a random id on Azure and the filesystem).
    upload_id = models.CharField(max_length=1024)
    original_filename = models.TextField()
    declared_content_type = models.CharField(max_length=255, blank=True, default="")
    declared_size = models.PositiveBigIntegerField()
    part_size = models.PositiveBigIntegerField()
    part_count = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    field_name = models.CharField(max_length=100)
    instance_pk = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (None: a new record)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    session_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = "async upload session"
        indexes = [
            # The quotas count an uploader's open sessions with its unsaved temporary keys.
            models.Index(fields=["user", "state"], name="asyncsession_user_state_idx"),
            models.Index(fields=["session_key", "state"], name="asyncsession_session_idx"),
        ]

    def __str__(self) -> str:
        return self.key

    @classmethod
    def get_by_key(cls, key: str, using: str | None = None) -> UploadSession | None:
        """Return the session of exactly ``key`` (compared in Python too: MySQL collations ignore case)."""
        found = next(iter(cls.objects.db_manager(using).filter(key=key)[:1]), None)
        return found if found is not None and found.key == key else None

    def is_for_field(self, field: AsyncFileMixin) -> bool:
        """Return whether this session was started for ``field``."""
        ct = ContentType.objects.get_for_model(field.model, for_concrete_model=False)
        return self.content_type_id == ct.pk and self.field_name == field.name

    def is_owned_by(self, request: HttpRequest) -> bool:
        """Return whether ``request`` comes from the user (or anonymous session) that started it."""
        return AsyncTempFile.is_owned_by(self, request)  # type: ignore[arg-type]

    def get_field(self) -> AsyncFileMixin:
        """Return the model field this session was started for."""
        return AsyncTempFile.get_field(self)  # type: ignore[arg-type]
