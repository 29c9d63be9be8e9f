"""REST views of uploads in parts: start, sign parts, list the parts that arrived, complete, abort."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse

from async_uploads import services
from async_uploads.codes import ErrorCode
from async_uploads.views import RegistryView, _snake, error_response, json_error

__all__ = [
    "AbortMultipartUploadView",
    "CompleteMultipartUploadView",
    "SignUploadPartsView",
    "StartMultipartUploadView",
    "UploadedPartsView",
]


def _body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
        raw: dict[str, Any] = body
    else:
        raw = {k: request.POST.get(k) for k in request.POST}
    return {_snake(k): v for k, v in raw.items()}


class _MultipartView(RegistryView):
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            data = _body(request)
        except (ValueError, RecursionError):
            return json_error(ErrorCode.INVALID_INPUT, "The body is not valid JSON.")
        try:
            return JsonResponse(self.run(request, data))
        except (ValidationError, PermissionDenied) as e:
            return error_response(e)

    def run(self, request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


class StartMultipartUploadView(_MultipartView):
    """Start an upload in parts: ``POST`` ``{fieldId, filename, contentType?, size, instanceId?}``.

    The same checks as :class:`~async_uploads.views.GenerateUploadUrlView`. Answers
    ``{"key", "uploadId", "partSize", "partCount", "expiresAt"}``.
    """

    def run(self, request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
        started = services.start_multipart_upload(
            self.registry,
            request,
            field_id=data.get("field_id", data.get("field")),
            filename=data.get("filename"),
            content_type=data.get("content_type"),
            size=data.get("size"),
            instance_id=data.get("instance_id"),
        )
        s = started.session
        return {
            "key": s.key,
            "uploadId": s.upload_id,
            "partSize": s.part_size,
            "partCount": s.part_count,
            "expiresAt": s.expires_at.isoformat(),
        }


class SignUploadPartsView(_MultipartView):
    """Sign parts: ``POST`` ``{key, uploadId, partNumbers: [...]}`` (at most 100).

    Answers ``{"parts": [{"partNumber", "url", "method", "headers": [{"name", "value"}]}]}``.
    """

    def run(self, request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
        targets = services.sign_upload_parts(
            self.registry,
            request,
            key=data.get("key"),
            upload_id=data.get("upload_id"),
            part_numbers=data.get("part_numbers"),
        )
        return {
            "parts": [
                {
                    "partNumber": t.number,
                    "url": request.build_absolute_uri(t.url),
                    "method": t.method,
                    "headers": [{"name": k, "value": v} for k, v in t.headers.items()],
                }
                for t in targets
            ]
        }


class CompleteMultipartUploadView(_MultipartView):
    """Complete: ``POST`` ``{key, uploadId}``. Answers ``{"key"}``; submit the key as for a single upload."""

    def run(self, request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
        temp_file = services.complete_multipart_upload(
            self.registry, request, key=data.get("key"), upload_id=data.get("upload_id")
        )
        return {"key": temp_file.key}


class AbortMultipartUploadView(_MultipartView):
    """Abort: ``POST`` ``{key, uploadId}``. Answers ``{"key"}``; nothing of the upload is left in storage."""

    def run(self, request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
        key = services.abort_multipart_upload(
            self.registry, request, key=data.get("key"), upload_id=data.get("upload_id")
        )
        return {"key": key}


class UploadedPartsView(RegistryView):
    """The parts that arrived, for resuming: ``GET ?key=...&uploadId=...``.

    Answers ``{"parts": [{"partNumber", "size"}]}``.
    """

    http_method_names = ["get", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        params = {_snake(k): v for k, v in request.GET.items()}
        try:
            parts = services.list_uploaded_parts(
                self.registry, request, key=params.get("key"), upload_id=params.get("upload_id")
            )
        except (ValidationError, PermissionDenied) as e:
            return error_response(e)
        return JsonResponse({"parts": [{"partNumber": p.number, "size": p.size} for p in parts]})
