"""The error codes clients can branch on: one enum, from which every surface and the docs derive.

Each code carries the HTTP status the REST views answer with and a default message. The REST
views (``{"code", "message", "errors"}`` bodies), the DRF fields' ``default_error_messages``,
the GraphQL ``OperationMessage.code`` values and the table of codes in ``docs/errors.md`` all
come from :class:`ErrorCode`, so adding a code is one edit here (then ``make docs`` rewrites
the table, and a test fails until it is rewritten).
"""

from __future__ import annotations

import enum

from django.utils.translation import gettext_lazy as _

__all__ = ["ErrorCode", "codes_table", "status_of"]


class ErrorCode(enum.StrEnum):
    """A stable error code, with the HTTP status and the default message that go with it.

    Members are strings (``ErrorCode.INVALID_KEY == "invalid_key"``), so they work wherever
    Django or a client expects a code string.
    """

    status: int
    default_message: str
    #: When a client gets this code, for the docs' table.
    meaning: str
    #: Where it can come from: ``"api"`` (every surface: REST, forms, DRF, GraphQL), ``"upload"``
    #: (only the filesystem backend's own upload and download URLs) or ``"move"`` (recorded on the
    #: ``AsyncTempFile`` row by the move after commit; no client request gets it).
    surface: str

    def __new__(cls, value: str, status: int, default_message: str, meaning: str, surface: str = "api") -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.default_message = default_message
        member.meaning = meaning
        member.surface = surface
        return member

    PERMISSION_DENIED = (
        "permission_denied",
        403,
        _("You do not have permission to do this."),
        "the viewer may not upload to this field (`perm_create`, or `perm_update` on the named record) or "
        "download this file (`perm_detail`); also for a missing record when the viewer lacks the permission, "
        "so record ids cannot be probed",
    )
    NOT_FOUND = (
        "not_found",
        404,
        _("Not found."),
        "the named record does not exist (for a viewer holding the permission), it has no file, or an upload "
        "key no longer exists",
    )
    INVALID_FILE_TYPE = (
        "invalid_file_type",
        400,
        _("This type of file is not accepted."),
        "the filename or content type fits no entry of the field's `file_restrictions`, or the uploaded "
        "object's first bytes are of a type it does not accept; active content (HTML, SVG, scripts, "
        "executables) only fits an entry that names its type exactly. The filesystem upload URL answers "
        "it with 415: there the body itself is refused",
    )
    INVALID_IMAGE = (
        "invalid_image",
        400,
        _("The upload is not an image this field accepts."),
        "for an image field, the uploaded object's header gives no dimensions, they are out of bounds, or "
        "they differ from the `width` / `height` sent",
    )
    FILE_TOO_LARGE = (
        "file_too_large",
        413,
        _("The file is too large."),
        "the declared `size`, or the uploaded object, is over the field's `max_size`",
    )
    INVALID_KEY = (
        "invalid_key",
        400,
        _("This upload key cannot be used here."),
        "a submitted key is neither the field's current file nor a temporary key issued for this field, "
        "this record (or a new record) and this user or session with an uploaded object; or it was already "
        "used",
    )
    INVALID_INPUT = (
        "invalid_input",
        400,
        _("The request is malformed."),
        "malformed input: a missing or over-long filename, an unknown field id, a bad record id, "
        "`width`/`height` out of range, a failed browser upload reported in the value, a body that is not "
        "valid JSON; also more upload URLs in one request than `MAX_UPLOAD_URLS_PER_REQUEST` (send the "
        "rest in another request)",
    )
    QUOTA_EXCEEDED = (
        "quota_exceeded",
        429,
        _("Too many unsaved uploads."),
        "the uploader holds too many issued but unsaved uploads, or too many bytes of them "
        "(`MAX_PENDING_UPLOADS`, `MAX_PENDING_BYTES`); saving them, or the cleanup of abandoned ones, "
        "frees the quota",
    )
    VERIFICATION_PENDING = (
        "verification_pending",
        409,
        _("The file is still being checked; try again in a moment."),
        "a download of a file whose upload the background task has not verified yet "
        "(`BACKGROUND_VERIFY_MIN_SIZE`); GraphQL answers `downloadUrl: null` for it meanwhile",
    )
    UPLOAD_SESSION_CLOSED = (
        "upload_session_closed",
        409,
        _("This upload in parts is no longer open; start a new one."),
        "a multipart session was already completed or aborted, or is past `MULTIPART_SESSION_EXPIRY`: "
        "its parts can no longer be signed, listed or completed",
    )
    INVALID_SIGNATURE = (
        "invalid_signature",
        403,
        _("The URL's signature is not valid."),
        "the token of a filesystem upload or download URL was altered or made for another purpose",
        "upload",
    )
    URL_EXPIRED = (
        "url_expired",
        403,
        _("The URL has expired; ask for a new one."),
        "a filesystem upload or download URL is past its expiry",
        "upload",
    )
    LENGTH_REQUIRED = (
        "length_required",
        411,
        _("Send the upload with a Content-Length header."),
        "a filesystem upload came without a `Content-Length`",
        "upload",
    )
    UPLOAD_URL_USED = (
        "upload_url_used",
        409,
        _("This upload URL has already been used; ask for a new one."),
        "a filesystem upload URL was used a second time (they are single-use)",
        "upload",
    )
    UPLOAD_REPLACED = (
        "upload_replaced",
        409,
        _("The upload was replaced after it was checked; it was not moved."),
        "the object at a temporary key is no longer the version verified when the key was accepted: the "
        "move refuses it (`UploadReplaced`), the record keeps its previous file, and the row's `error` "
        "starts with this code",
        "move",
    )


def status_of(code: str) -> int:
    """Return the HTTP status of ``code``; 400 for a code that is not ours (Django's ``blank``...)."""
    member = ErrorCode._value2member_map_.get(str(code))
    return member.status if isinstance(member, ErrorCode) else 400


def codes_table() -> str:
    """Return the Markdown table of every code: its status and when a client gets it."""
    lines = ["| code | HTTP status | where | when |", "|---|---:|---|---|"]
    places = {"api": "every API", "upload": "filesystem upload/download URLs", "move": "moves (`AsyncTempFile.error`)"}
    for code in ErrorCode:
        where = places[code.surface]
        lines.append(f"| `{code.value}` | {code.status} | {where} | {code.meaning} |")
    return "\n".join(lines) + "\n"
