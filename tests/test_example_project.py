"""The example project boots on its defaults, migrates, and serves its page and the upload flow."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = r"""
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.contrib.auth import get_user_model
call_command("migrate", verbosity=0)
call_command("ensure_demo_user", stdout=open("/dev/null", "w"))
client = Client()
page = client.get("/")
client.force_login(get_user_model().objects.get(username="demo"))
issued = client.post("/async-uploads/generate-upload-url/", {"field_id": "example.Document.attachment",
                     "filename": "notes.txt", "content_type": "text/plain"})
from django.core.files.uploadedfile import SimpleUploadedFile
upload = client.post(issued.json()["uploadUrl"]["url"],
                     {"file": SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")})
from async_uploads.inputs import AsyncFileInputData
from example.models import Document
from django.utils.html import escape
doc = Document(title="t")
doc.attachment = AsyncFileInputData(key=issued.json()["key"], name="notes.txt", trusted=True)
doc.save()
listing = client.get("/")
print(json.dumps({"page": page.status_code, "upload": upload.status_code, "name": doc.attachment.name,
                  "listed": escape(doc.attachment.url) in listing.content.decode()}))
"""


def test_example_project_runs_on_its_defaults(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'example.sqlite3'}",
        "EXAMPLE_MEDIA_ROOT": str(tmp_path / "media"),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT / "example_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"page": 200, "upload": 201, "name": "documents/1/notes.txt", "listed": True}
