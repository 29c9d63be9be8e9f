"""The example project boots on its defaults, migrates, and serves its page and the upload flow.

The demo page itself is driven in a browser by ``tests/test_browser_demo.py``.
"""

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
from django.contrib.staticfiles import finders
doc = Document(title="t")
doc.attachment = AsyncFileInputData(key=issued.json()["key"], name="notes.txt", trusted=True)
doc.save()
demo = client.get("/")
print(json.dumps({"page": page.status_code, "upload": upload.status_code, "name": doc.attachment.name,
                  "sign_in": b'href="/admin/login/?next=%2F"' in page.content,
                  "demo": demo.status_code == 200 and b"example/demo.js" in demo.content
                  and b"csrfmiddlewaretoken" in demo.content and b"sign-in" not in demo.content,
                  "static": all(finders.find(f"example/demo.{ext}") for ext in ("js", "css"))}))
"""


def run_probe(probe: str, tmp_path) -> dict:
    """Run ``probe`` in the example project on its defaults (SQLite, filesystem) and return its report."""
    return run_probe_with_stderr(probe, tmp_path)[0]


def run_probe_with_stderr(probe: str, tmp_path) -> tuple[dict, str]:
    """Like :func:`run_probe`, and also return what the process wrote to stderr (warnings, logs)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'example.sqlite3'}",
        "EXAMPLE_MEDIA_ROOT": str(tmp_path / "media"),
    }
    env.pop("EXAMPLE_STORAGE", None)
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT / "example_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_example_project_runs_on_its_defaults(tmp_path):
    report = run_probe(PROBE, tmp_path)
    assert report == {
        "page": 200,
        "upload": 201,
        "name": "documents/1/notes.txt",
        "sign_in": True,  # signed out: a link to the admin login, back to the demo page
        "demo": True,  # signed in: the demo page, its script, and the CSRF token it sends
        "static": True,
    }


GRAPHQL_PROBE = r"""
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
call_command("migrate", verbosity=0)
call_command("ensure_demo_user", stdout=open("/dev/null", "w"))
client = Client()
ide = client.get("/graphql/", HTTP_ACCEPT="text/html")
client.force_login(get_user_model().objects.get(username="demo"))

def run(query, **variables):
    response = client.post("/graphql/", json.dumps({"query": query, "variables": variables}),
                           content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    return body["data"]

ISSUE = '''mutation($input: GenerateUploadUrlInput!) { generateUploadUrl(input: $input) {
  __typename ... on IssuedUpload { key upload { url fileFieldName } } ... on OperationInfo { messages { code } } } }'''

def upload(field, filename, content, content_type):
    issued = run(ISSUE, input={"field": field, "filename": filename, "contentType": content_type,
                               "size": len(content)})["generateUploadUrl"]
    target = issued["upload"]
    part = SimpleUploadedFile(filename, content, content_type)
    response = client.post(target["url"], {target["fileFieldName"]: part})
    assert response.status_code == 201, response.content
    return issued["key"]

doc_key = upload("EXAMPLE_DOCUMENT_ATTACHMENT", "notes.txt", b"hello", "text/plain")
created = run('''mutation($data: DocumentInput!) { createDocument(data: $data) {
  __typename ... on DocumentType { id attachment { key name } } ... on OperationInfo { messages { code } } } }''',
  data={"title": "Notes", "attachment": {"key": doc_key, "name": "notes.txt"}})["createDocument"]
png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
photo_key = upload("EXAMPLE_PHOTO_IMAGE", "dot.png", png, "image/png")
photo = run('''mutation($data: PhotoInput!) { createPhoto(data: $data) {
  __typename ... on PhotoType { image { key width height } } ... on OperationInfo { messages { code } } } }''',
  data={"caption": "dot", "image": {"key": photo_key, "name": "dot.png", "width": 1, "height": 1}})["createPhoto"]
bad = run('''mutation($data: DocumentInput!) { createDocument(data: $data) {
  __typename ... on OperationInfo { messages { code field } } } }''',
  data={"title": "Bad", "attachment": {"key": "async-temp-files/2020/01/01/abcdefghijkl-x.txt"}})["createDocument"]
both_key = upload("EXAMPLE_PHOTO_IMAGE", "two.png", png, "image/png")
both = run('''mutation($data: PhotoInput!) { createPhoto(data: $data) {
  __typename ... on OperationInfo { messages { code field } } } }''',
  data={"caption": "x" * 201, "image": {"key": both_key, "width": 0, "height": 1}})["createPhoto"]
from example.models import Photo
photos_saved = Photo.objects.count()
listing = run("{ documents { title attachment { name downloadUrl } } photos { image { width height } } }")
direct = Client().get(listing["documents"][0]["attachment"]["downloadUrl"])
not_utf8 = client.post("/graphql/", b'{"query": "{ documents { title } }", "x": "\xff"}',
                       content_type="application/json")
print(json.dumps({
    "ide": ide.status_code, "graphiql": b"graphiql" in ide.content.lower(),
    "created": created, "photo": photo, "bad": bad, "both": both, "photos_saved": photos_saved,
    "listed": [d["title"] for d in listing["documents"]], "photos": listing["photos"],
    "not_utf8": [not_utf8.status_code, not_utf8.content.decode()],
    "download": b"".join(direct.streaming_content).decode() if direct.status_code == 200 else direct.status_code,
}))
"""


def test_example_project_graphql_flow(tmp_path):
    """The example schema at /graphql/ takes a client through upload, create and download."""
    report = run_probe(GRAPHQL_PROBE, tmp_path)
    assert report["ide"] == 200 and report["graphiql"]
    assert report["created"] == {
        "__typename": "DocumentType",
        "id": "1",
        "attachment": {"key": "documents/1/notes.txt", "name": "notes.txt"},
    }
    assert report["photo"]["__typename"] == "PhotoType"
    assert report["photo"]["image"]["key"].startswith("photos/")
    assert (report["photo"]["image"]["width"], report["photo"]["image"]["height"]) == (1, 1)
    assert report["bad"] == {
        "__typename": "OperationInfo",
        "messages": [{"code": "invalid_key", "field": "attachment"}],
    }
    # A too-long caption and a bad width: both errors in one answer, and no photo saved.
    assert report["both"]["__typename"] == "OperationInfo"
    assert sorted(report["both"]["messages"], key=lambda m: m["field"]) == [
        {"code": "max_length", "field": "caption"},
        {"code": "invalid_input", "field": "image"},
    ]
    assert report["photos_saved"] == 1
    assert report["listed"] == ["Notes"]
    assert report["photos"] == [{"image": {"width": 1, "height": 1}}]
    assert report["download"] == "hello"
    # A body that is not UTF-8: a short 400 from async_uploads.graphql.views, not a 500 page.
    assert report["not_utf8"] == [400, "The request body is not valid UTF-8; send the JSON encoded as UTF-8."]


VIEW_PROBE = r"""
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.contrib.auth.models import Permission, User
from example.models import Document, Photo
call_command("migrate", verbosity=0)
call_command("ensure_demo_user", stdout=open("/dev/null", "w"))
doc = Document.objects.create(title="Secret plans", attachment="documents/1/plans.pdf")
photo = Photo.objects.create(caption="Secret photo", image="photos/p.png", width=1, height=1)
nobody = User.objects.create_user("nobody", password="x")
viewer = User.objects.create_user("viewer", password="x")
viewer.user_permissions.add(Permission.objects.get(codename="view_document"))
QUERY = '''query($doc: ID!, $photo: ID!) { documents { title attachment { key name } } document(pk: $doc) { title }
  photos { caption } photo(pk: $photo) { caption } }'''

def look(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    response = client.post("/graphql/", json.dumps({"query": QUERY, "variables": {"doc": doc.pk, "photo": photo.pk}}),
                           content_type="application/json")
    return {"status": response.status_code, **response.json()}

print(json.dumps({"anonymous": look(None), "nobody": look(nobody), "viewer": look(viewer),
                  "superuser": look(User.objects.get(username="demo"))}))
"""


def test_example_queries_list_only_what_the_viewer_may_view(tmp_path):
    """Signing in is not enough to read the records: the model's view permission is."""
    report = run_probe(VIEW_PROBE, tmp_path)
    nothing = {"documents": [], "document": None, "photos": [], "photo": None}
    assert report["anonymous"] == {"status": 200, "data": nothing}
    assert report["nobody"] == {"status": 200, "data": nothing}
    plans = {"title": "Secret plans", "attachment": {"key": "documents/1/plans.pdf", "name": "plans.pdf"}}
    assert report["viewer"] == {
        "status": 200,
        "data": {"documents": [plans], "document": {"title": "Secret plans"}, "photos": [], "photo": None},
    }
    assert report["superuser"] == {
        "status": 200,
        "data": {
            "documents": [plans],
            "document": {"title": "Secret plans"},
            "photos": [{"caption": "Secret photo"}],
            "photo": {"caption": "Secret photo"},
        },
    }


def run_manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "EXAMPLE_STORAGE")},
        "DJANGO_SETTINGS_MODULE": "example.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'example.sqlite3'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT / "example_project",
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


KEY_PROBE = "from django.conf import settings; print(settings.SECRET_KEY, settings.DEBUG)"


def printed(result: subprocess.CompletedProcess) -> list[str]:
    return result.stdout.strip().splitlines()[-1].split()  # shell may first say what it imported


def test_the_secret_key_and_debug_come_from_the_environment(tmp_path):
    given = run_manage(tmp_path, "shell", "-c", KEY_PROBE, DJANGO_SECRET_KEY="k" * 50, DJANGO_DEBUG="0")
    assert given.returncode == 0, given.stderr
    assert printed(given) == ["k" * 50, "False"]
    assert "DJANGO_SECRET_KEY" not in given.stderr


def test_without_a_secret_key_debug_uses_a_key_of_its_own_and_says_so(tmp_path):
    """A developer's manage.py works without the variable; no two processes share a key, none is fixed."""
    first, second = (run_manage(tmp_path, "shell", "-c", KEY_PROBE) for _ in range(2))
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert "DJANGO_SECRET_KEY is not set; using a random key for this process only" in result.stderr
        assert printed(result)[1] == "True"
    assert printed(first)[0] != printed(second)[0]
    assert "example-only-secret-key" not in first.stdout


def test_without_a_secret_key_debug_off_refuses_to_start(tmp_path):
    result = run_manage(tmp_path, "check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG=0" in result.stderr
    bad = run_manage(tmp_path, "check", DJANGO_DEBUG="maybe")
    assert bad.returncode != 0
    assert "DJANGO_DEBUG must be 1 or 0, not 'maybe'." in bad.stderr
