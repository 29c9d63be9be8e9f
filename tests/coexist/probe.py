"""Run inside the side-by-side project: print what a migrating team would check."""

import json

import django

django.setup()

from django.core import checks  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402
from django.urls import reverse  # noqa: E402

from async_uploads.models import AsyncTempFile  # noqa: E402

messages = [f"{m.id}: {m.msg}" for m in checks.run_checks() if m.level >= checks.WARNING]
from django.contrib.auth.models import User  # noqa: E402

receivers = [r.__module__ for r in post_save._live_receivers(User)[0]]  # sync receivers
print(
    json.dumps(
        {
            "checks": messages,
            "ours_table": AsyncTempFile._meta.db_table,
            "ours_generate": reverse("async_uploads:generate-upload-url"),
            "seed_upload": reverse("file_system_async_storage_upload"),
            "ours_receivers_on_user": [m for m in receivers if m.startswith("async_uploads")],
        }
    )
)
