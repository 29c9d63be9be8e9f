"""DRF serializers and views over the test models, routed under /drf/ by tests/drf_urls.py."""

from __future__ import annotations

from typing import Any

from rest_framework import generics, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from async_uploads import models as async_models
from async_uploads.rest_framework import AsyncFileField, AsyncFileSerializerMixin, AsyncImageField
from tests.testapp.models import Document, Photo, PublicNote


class DocumentSerializer(AsyncFileSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "title", "attachment", "extra"]


class PlainDocumentSerializer(serializers.ModelSerializer):
    """The seed's recipe, spelled out (no mixin): the mapping alone, no atomic save."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        async_models.AsyncFileField: AsyncFileField,
        async_models.AsyncImageField: AsyncImageField,
    }

    class Meta:
        model = Document
        fields = ["id", "title", "attachment"]


class PhotoSerializer(AsyncFileSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Photo
        fields = ["id", "image", "width", "height"]
        read_only_fields = ["width", "height"]


class PublicNoteSerializer(AsyncFileSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = PublicNote
        fields = ["id", "file"]


class DocumentItemSerializer(AsyncFileSerializerMixin, serializers.ModelSerializer):
    """An item of a batch: its ``id`` (writable) names the document to update."""

    id = serializers.IntegerField(required=False)

    class Meta:
        model = Document
        fields = ["id", "title", "attachment"]


class DocumentBatchSerializer(AsyncFileSerializerMixin, serializers.Serializer):
    """Upsert within a scope: an item whose id names a document of the scope updates it; any
    other item creates a document (so a client-sent id never reaches a record outside the scope)."""

    documents = DocumentItemSerializer(many=True)

    def create(self, validated_data: dict[str, Any]) -> dict[str, Any]:
        scope = self.context["scope"]
        saved = []
        for item in validated_data["documents"]:
            pk = item.pop("id", None)
            doc = (scope.filter(pk=pk).first() if pk is not None else None) or Document()
            for name, value in item.items():
                setattr(doc, name, value)
            doc.save()
            saved.append(doc)
        return {"documents": saved}


class DocumentLink:
    """A non-model object that points at a document, for ``source="document.attachment"``."""

    def __init__(self, document: Document | None):
        self.document = document


class DocumentLinkSerializer(serializers.Serializer):
    file = AsyncFileField(model_field=Document._meta.get_field("attachment"), source="document.attachment")


class _JsonApi:
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    authentication_classes = [SessionAuthentication]


class DocumentViewSet(_JsonApi, viewsets.ModelViewSet):
    queryset = Document.objects.order_by("pk")
    serializer_class = DocumentSerializer
    permission_classes = [IsAuthenticated]


class PlainDocumentCreateView(_JsonApi, generics.CreateAPIView):
    serializer_class = PlainDocumentSerializer
    permission_classes = [IsAuthenticated]


class PhotoViewSet(_JsonApi, viewsets.ModelViewSet):
    queryset = Photo.objects.order_by("pk")
    serializer_class = PhotoSerializer
    permission_classes = [IsAuthenticated]


class PublicNoteCreateView(_JsonApi, generics.CreateAPIView):
    serializer_class = PublicNoteSerializer
    permission_classes = [AllowAny]


class DocumentBatchView(_JsonApi, APIView):
    """The scope of a user is the documents titled ``"<username>:..."``."""

    permission_classes = [IsAuthenticated]

    def post(self, request: Any) -> Response:
        context = {"request": request, "scope": Document.objects.filter(title__startswith=f"{request.user.username}:")}
        serializer = DocumentBatchSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        result = serializer.save()
        return Response(DocumentBatchSerializer(result, context=context).data, status=status.HTTP_201_CREATED)
