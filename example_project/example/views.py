from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import render, resolve_url

from async_uploads.conf import app_settings
from async_uploads.sizes import human_size
from example.models import Document, Photo

STORAGE_NAMES = {"filesystem": "this Django server", "s3": "an S3 bucket", "azure": "an Azure Blob container"}


def index(request):
    """Render the demo page; its script (static/example/demo.js) does the rest through /graphql/ only."""
    login_url = resolve_url(settings.LOGIN_URL) + "?" + urlencode({"next": request.get_full_path()})
    return render(
        request,
        "example/index.html",
        {
            "login_url": login_url,
            "storage_name": STORAGE_NAMES.get(settings.EXAMPLE_STORAGE, settings.EXAMPLE_STORAGE),
            "document_hint": _hint(Document._meta.get_field("attachment")),
            "photo_hint": _hint(Photo._meta.get_field("image")),
            # Files of at least this size go in parts (demo.js): the MULTIPART_* settings.
            "multipart_threshold": app_settings.MULTIPART_THRESHOLD,
            "multipart_threshold_text": human_size(app_settings.MULTIPART_THRESHOLD),
            "multipart_concurrency": app_settings.MULTIPART_CONCURRENCY,
        },
    )


def _hint(field):
    """Describe what ``field`` accepts; the server checks it again whatever the page says."""
    accepted = ", ".join(field.file_restrictions) or "any file"
    size = f"; at most {human_size(field.max_size_bytes)}" if field.max_size_bytes is not None else ""
    return f"Accepted: {accepted}{size}."
