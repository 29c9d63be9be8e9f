"""DRF serializers and views over each package's ``Document`` (run.py rows 10, 10m and 10u).

Each side is wired as its documentation says:

- ours: ``AsyncFileSerializerMixin`` before ``ModelSerializer`` (docs/drf.md: the mapping, and
  ``save()`` in a transaction); ``OursPlainDocumentSerializer`` is the bare
  ``serializer_field_mapping`` recipe without the mixin (row 10m, to show what the mixin's
  transaction costs);
- ref: the ``serializer_field_mapping`` recipe of the docstring of
  ``alliance_platform.storage.async_uploads.rest_framework.AsyncFileField``.

The views are DRF's generic ``CreateAPIView`` / ``UpdateAPIView`` with the same settings on both
sides: session authentication (the harness's logged-in superuser), ``IsAuthenticated``, JSON in
and out. Routed by bench_project.urls under ``/drf/``.
"""

from __future__ import annotations

import alliance_platform.storage.async_uploads.models as ref_fields
from alliance_platform.storage.async_uploads.rest_framework import AsyncFileField as RefAsyncFileField
from alliance_platform.storage.async_uploads.rest_framework import AsyncImageField as RefAsyncImageField
from bench_ours import models as om
from bench_ref import models as rm
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer

import async_uploads.models as ours_fields
from async_uploads.rest_framework import AsyncFileField, AsyncFileSerializerMixin, AsyncImageField


class OursDocumentSerializer(AsyncFileSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = om.Document
        fields = ["id", "title", "file"]


class OursPlainDocumentSerializer(serializers.ModelSerializer):
    """docs/drf.md's mapping recipe, without the mixin (no transaction around ``save()``)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        ours_fields.AsyncFileField: AsyncFileField,
        ours_fields.AsyncImageField: AsyncImageField,
    }

    class Meta:
        model = om.Document
        fields = ["id", "title", "file"]


class RefBaseModelSerializer(serializers.ModelSerializer):
    """The reference's documented recipe (its AsyncFileField docstring)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        ref_fields.AsyncFileField: RefAsyncFileField,
        ref_fields.AsyncImageField: RefAsyncImageField,
    }


class RefDocumentSerializer(RefBaseModelSerializer):
    class Meta:
        model = rm.Document
        fields = ["id", "title", "file"]


class _Settings:
    """The same DRF settings on every view, whatever the project's REST_FRAMEWORK says."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]


class OursCreate(_Settings, generics.CreateAPIView):
    queryset = om.Document.objects.all()
    serializer_class = OursDocumentSerializer


class OursUpdate(_Settings, generics.UpdateAPIView):
    queryset = om.Document.objects.all()
    serializer_class = OursDocumentSerializer


class OursPlainCreate(_Settings, generics.CreateAPIView):
    queryset = om.Document.objects.all()
    serializer_class = OursPlainDocumentSerializer


class RefCreate(_Settings, generics.CreateAPIView):
    queryset = rm.Document.objects.all()
    serializer_class = RefDocumentSerializer


class RefUpdate(_Settings, generics.UpdateAPIView):
    queryset = rm.Document.objects.all()
    serializer_class = RefDocumentSerializer
