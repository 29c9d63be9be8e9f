"""REST views: request an upload URL, and download through a permission check."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views import View

from async_uploads.codes import ErrorCode, status_of
from async_uploads.registry import AsyncFieldRegistry, default_async_field_registry
from async_uploads.services import issue_upload, resolve_download_url

__all__ = ["DownloadRedirectView", "GenerateUploadUrlView", "error_response", "json_error"]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def json_error(
    code: str, message: str, errors: dict[str, list[str]] | None = None, *, status: int | None = None
) -> JsonResponse:
    """Return the JSON error body every view of this package uses: ``{"code", "message", "errors"}``.

    The status is the code's own (:attr:`ErrorCode.status`) unless ``status`` says otherwise.
    """
    body = {"code": str(code), "message": message, "errors": errors or {}}
    return JsonResponse(body, status=status or status_of(code))


def error_response(error: ValidationError | PermissionDenied, status: int | None = None) -> JsonResponse:
    """Return the JSON error body the views use: ``{"code", "message", "errors": {field: [msg]}}``."""
    code: str
    if isinstance(error, PermissionDenied):
        code, message, errors = ErrorCode.PERMISSION_DENIED, str(error) or "Permission denied.", {}
    else:
        if hasattr(error, "error_dict"):
            errors = {_camel(k): [str(m) for m in v] for k, v in error.message_dict.items()}
            first = next(iter(error.error_dict.values()))[0]
            code, message = first.code or ErrorCode.INVALID_INPUT, next(iter(errors.values()))[0]
        else:
            errors = {}
            code, message = error.error_list[0].code or ErrorCode.INVALID_INPUT, error.messages[0]
    return json_error(code, message, errors, status=status)


def _jsonable(upload: dict[str, Any]) -> dict[str, Any]:
    out = dict(upload)
    if out.get("expiresAt") is not None:
        out["expiresAt"] = out["expiresAt"].isoformat()
    return out


class RegistryView(View):
    """A view bound to one :class:`AsyncFieldRegistry` (``as_view(registry=...)``)."""

    registry: AsyncFieldRegistry = default_async_field_registry


class GenerateUploadUrlView(RegistryView):
    """Issue a temporary key and a signed upload target for one file.

    ``POST`` (CSRF-protected) with form or JSON fields ``field_id`` (the registry id of the
    field), ``filename``, and optionally ``content_type``, ``size`` (bytes), ``instance_id``
    (an existing record: ``perm_update`` is checked against it, otherwise ``perm_create``) and
    ``params`` (extra upload form fields, passed to the storage as ``fields``), ``content_md5``
    (base64 MD5 of the file, checked by S3 and Azure on upload).
    camelCase names (``fieldId``) are accepted too. Answers
    ``{"key": ..., "uploadUrl": {"url", "method", "provider", "fields", "headers", "fileFieldName", "expiresAt"}}``,
    or a JSON error ``{"code", "message", "errors"}`` with status 400, 403, 404, 413 or 429
    (``quota_exceeded``: the uploader holds too many unsaved uploads).
    """

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            data = _read_params(request)
        except (ValueError, RecursionError):
            return json_error(ErrorCode.INVALID_INPUT, "The body (or its params) is not valid JSON.")
        try:
            issued = issue_upload(
                self.registry,
                request,
                field_id=data.get("field_id", data.get("async_field_id")),
                filename=data.get("filename"),
                content_type=data.get("content_type"),
                size=data.get("size"),
                instance_id=data.get("instance_id"),
                fields=data.get("params"),
                content_md5=data.get("content_md5"),
            )
        except (ValidationError, PermissionDenied) as e:
            return error_response(e)
        return JsonResponse({"key": issued.key, "uploadUrl": _jsonable(dict(issued.upload))})


def _read_params(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
        raw: dict[str, Any] = body
    else:
        raw = {k: request.POST.get(k) for k in request.POST}
        if isinstance(raw.get("params"), str):  # alliance-platform-storage sent extra upload fields as a JSON string
            raw["params"] = json.loads(raw["params"]) if raw["params"] else None
    return {_snake(k): v for k, v in raw.items()}


class DownloadRedirectView(RegistryView):
    """Check ``perm_detail`` on the record and redirect to the file's signed download URL.

    ``GET`` with ``field_id`` and ``instance_id``. Answers 302 to the storage's signed URL, or a
    JSON error: 400 (malformed), 403 (no permission), 404 (no such record, or no file).
    """

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        params = {_snake(k): v for k, v in request.GET.items()}
        try:
            url = resolve_download_url(
                self.registry,
                request,
                field_id=params.get("field_id", params.get("async_field_id")),
                instance_id=params.get("instance_id"),
            )
        except (ValidationError, PermissionDenied) as e:
            return error_response(e)
        response = HttpResponseRedirect(url)
        # The target is a short-lived signed URL for this viewer: never let a shared cache keep it.
        response["Cache-Control"] = "private, no-store"
        return response
