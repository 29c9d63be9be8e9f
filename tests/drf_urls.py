"""DRF routes of the tests (included under /drf/ by tests/urls.py)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from tests import drf_views

router = SimpleRouter()
router.register("documents", drf_views.DocumentViewSet, basename="drf-document")
router.register("photos", drf_views.PhotoViewSet, basename="drf-photo")

urlpatterns = [
    path("", include(router.urls)),
    path("plain-documents/", drf_views.PlainDocumentCreateView.as_view(), name="drf-plain-document"),
    path("public-notes/", drf_views.PublicNoteCreateView.as_view(), name="drf-public-note"),
    path("document-batch/", drf_views.DocumentBatchView.as_view(), name="drf-document-batch"),
]
