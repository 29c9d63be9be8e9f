"""Uppy's S3 plugin uploading in parts to moto's S3 server through the GraphQL multipart flow.

Each test runs on Uppy 6 and Uppy 5. The page (``tests/uppy_urls.py``) loads the real
``@uppy/core`` and ``@uppy/aws-s3`` from npm (pinned in ``tests/uppy/package-lock.json`` and
``tests/uppy5/package-lock.json``, bundled by esbuild) and that version's code from the Uppy
section of docs/large-files.md, which backs Uppy's S3 requests (6) or multipart callbacks (5)
with the GraphQL operations of the cloud registry. 5 MiB parts make three of an 11 MiB file; the
part requests are the browser's ``PUT``s to moto, counted here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from async_uploads.inputs import AsyncFileInputData
from async_uploads.models import AsyncTempFile, UploadSession
from tests.browser import _missing
from tests.cloudapp.models import S3Big, cloud_registry, s3_storage
from tests.conftest import request_for
from tests.servers import S3_BUCKET
from tests.test_multipart import pdf_of
from tests.uppy_urls import bundle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.uppy_urls")]

MiB = 1024 * 1024
SIZE = 11 * MiB + 123  # three parts: 5 MiB, 5 MiB and the rest
FIELD = "CLOUDAPP_S3BIG_FILE"

# Uppy on the page, with the doc's options; what it reports goes to window.events.
SET_UP = """([field, partSize]) => {
  window.events = [];
  const uppy = (window.uppy = new Uppy({ autoProceed: false }).use(
    AwsS3,
    asyncUploadsOptions({
      graphqlUrl: "/graphql-cloud/",
      field,
      partSize,
      csrfToken: document.body.dataset.csrfToken,
      startInput: "CloudStartMultipartUploadInput",
    }),
  ));
  uppy.on("s3-multipart:part-uploaded", (file, part) => events.push({ type: "part", number: part.PartNumber }));
  uppy.on("upload-success", (file, response) => events.push({ type: "success", key: response.body.key }));
  uppy.on("upload-error", (file, error) => events.push({ type: "error", message: String(error && error.message) }));
  const input = Object.assign(document.createElement("input"), { type: "file", id: "pick" });
  input.addEventListener("change", () => {
    const [file] = input.files;
    uppy.addFile({ name: file.name, type: file.type, data: file });
  });
  document.body.append(input);
}"""


@pytest.fixture(params=["6", "5"], ids=["uppy6", "uppy5"])
def uppy(request: Any, page: Any, live_server: Any, settings: Any, user: Any) -> Any:
    """The page of Uppy 6 or 5, signed in as ``user``, its bucket's CORS set for the live server's origin."""
    version = request.param
    built = bundle(version)
    if not built.exists():
        _missing(
            f"the Uppy {version} bundle {built} is not built: run `npm ci && npm run build` in "
            f"{built.parent.parent} (make install does it when npm is present)"
        )
    request.getfixturevalue("s3_server")
    settings.ASYNC_UPLOADS = {"MULTIPART_PART_SIZE": 5 * MiB, "MAX_PENDING_BYTES": 1024 * MiB}
    s3_storage.apply_cors([live_server.url])
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.base_url = live_server.url
    page.goto(f"{live_server.url}/uppy/{version}/")
    page.evaluate(SET_UP, [FIELD, 5 * MiB])
    return page


def pick(page: Any, content: bytes) -> None:
    page.set_input_files("#pick", {"name": "big.pdf", "mimeType": "application/pdf", "buffer": content})
    assert page.evaluate("() => uppy.getFiles().length") == 1


def part_number(url: str) -> int | None:
    numbers = parse_qs(urlsplit(url).query).get("partNumber")
    return int(numbers[0]) if numbers else None


def part_puts(page: Any) -> list[str]:
    """The part uploads the browser sends to moto: ``PUT``s with a part number."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "PUT" and part_number(r.url) else None)
    return sent


def bucket_requests(page: Any) -> list[tuple[str, int | None]]:
    """Every request the page sends to moto: its method and part number."""
    sent: list[tuple[str, int | None]] = []

    def on_request(r: Any) -> None:
        if r.url.startswith(s3_storage.endpoint_url):
            sent.append((r.method, part_number(r.url)))

    page.on("request", on_request)
    return sent


def graphql_calls(page: Any) -> list[str]:
    """The name of the first field of each GraphQL operation the page sends (startMultipartUpload, ...)."""
    calls: list[str] = []

    def on_request(r: Any) -> None:
        if r.url.endswith("/graphql-cloud/") and r.method == "POST":
            query = json.loads(r.post_data)["query"]
            calls.append(query.split("{", 2)[1].split("(", 1)[0].strip())

    page.on("request", on_request)
    return calls


def events(page: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in page.evaluate("() => events") if e["type"] == kind]


def open_uploads(key: str) -> list[Any]:
    return list(s3_storage.client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=key).get("Uploads", []))


def download(page: Any, obj: Any) -> bytes:
    field_id = cloud_registry.generate_id(S3Big._meta.get_field("file"))
    url = reverse(f"{cloud_registry.url_namespace}:download") + f"?field_id={field_id}&instance_id={obj.pk}"
    response = page.request.get(page.base_url + url)  # the redirect to the presigned GET is followed
    assert response.ok, response.status
    return bytes(response.body())


def test_uppy_uploads_three_parts_then_the_key_saves_and_downloads_the_same_bytes(uppy, user):
    page = uppy
    content = pdf_of(SIZE, seed=11)
    puts, calls, bucket = part_puts(page), graphql_calls(page), bucket_requests(page)
    pick(page, content)
    result = page.evaluate("() => uppy.upload().then((r) => ({ ok: r.successful.length, failed: r.failed.length }))")
    assert result == {"ok": 1, "failed": 0}, page.evaluate("() => events")
    assert events(page, "error") == []
    assert len(puts) == 3 and all(u.startswith(s3_storage.endpoint_url) for u in puts), puts
    assert sorted(e["number"] for e in events(page, "part")) == [1, 2, 3]
    # Only the parts went to the bucket: the server started, completed and checked the upload.
    assert sorted(bucket) == [("PUT", 1), ("PUT", 2), ("PUT", 3)], bucket
    assert calls.count("startMultipartUpload") == 1
    assert calls.count("signUploadParts") == 3
    assert calls.count("completeMultipartUpload") == 1
    assert "abortMultipartUpload" not in calls
    [success] = events(page, "success")
    key = success["key"]
    session = UploadSession.objects.get()
    assert session.key == key and session.part_count == 3
    assert session.state == UploadSession.State.COMPLETED
    assert AsyncTempFile.objects.get(key=key).declared_size == SIZE
    assert open_uploads(key) == [], "no open S3 multipart upload"

    obj = S3Big()
    obj.file = AsyncFileInputData(key, "big.pdf", request=request_for(user))
    obj.save()
    obj.refresh_from_db()
    assert obj.file.name.startswith("big/big") and obj.file.name.endswith(".pdf")
    assert download(page, obj) == content
    assert not s3_storage.exists(key), "the temporary object was moved"
    assert not AsyncTempFile.objects.filter(moved_to_location="").exists()
    assert not UploadSession.objects.filter(state=UploadSession.State.OPEN).exists()
    assert page.console_errors == []


def hold_parts_after_the_first(page: Any) -> list[Any]:
    """Let part 1 reach moto and keep every other part's request unanswered (still being sent)."""
    held: list[Any] = []

    def route(r: Any) -> None:
        if r.request.method != "PUT" or part_number(r.request.url) == 1:
            r.continue_()
        else:
            held.append(r)

    page.route(f"{s3_storage.endpoint_url}/**", route)
    return held


def wait_for(page: Any, check: Any, what: str) -> None:
    for _ in range(400):
        if check():
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {what}")


def test_cancelling_uppy_after_the_first_part_aborts_the_session_and_leaves_nothing(uppy):
    page = uppy
    calls = graphql_calls(page)
    held = hold_parts_after_the_first(page)
    pick(page, pdf_of(SIZE, seed=12))
    page.evaluate("() => { uppy.upload(); }")
    wait_for(page, lambda: events(page, "part") and held, "part 1 to arrive and another part to be on its way")
    session = UploadSession.objects.get()
    assert session.state == UploadSession.State.OPEN
    assert len(open_uploads(session.key)) == 1
    with page.expect_response(
        lambda r: r.url.endswith("/graphql-cloud/") and "abortMultipartUpload" in (r.request.post_data or "")
    ) as aborted:
        page.evaluate("() => uppy.cancelAll()")
    assert aborted.value.ok
    assert aborted.value.json()["data"]["abortMultipartUpload"] == {"key": session.key}
    assert page.evaluate("() => uppy.getFiles().length") == 0
    assert "completeMultipartUpload" not in calls
    assert [e["number"] for e in events(page, "part")] == [1]
    session.refresh_from_db()
    assert session.state == UploadSession.State.ABORTED
    assert open_uploads(session.key) == [], "no open S3 multipart upload"
    assert not s3_storage.exists(session.key), "no object at the key"
    assert not AsyncTempFile.objects.filter(key=session.key).exists(), "no temporary-file record"
    assert events(page, "success") == []
    for route in held:  # the browser gave up on them; answer the routes so nothing stays pending
        try:
            route.abort()
        except Exception:  # already cancelled by the page
            pass


def test_a_resume_after_a_pause_asks_the_server_for_the_parts_and_sends_only_the_missing_one(uppy, user):
    """Part 2 reaches the bucket but its answer never reaches Uppy; Uppy is paused, then resumed.

    Only the server's list (``uploadedParts``) tells Uppy that part 2 arrived: it sends part 3 alone.
    """
    page = uppy
    content = pdf_of(SIZE, seed=13)
    calls = graphql_calls(page)
    held: list[Any] = []
    arrived: list[int] = []

    def route(r: Any) -> None:
        number = part_number(r.request.url)
        if r.request.method != "PUT" or number == 1:
            r.continue_()
            return
        if number == 2:
            response = r.fetch()  # the part is stored; the browser never hears back
            assert response.ok, response.status
            arrived.append(number)
        held.append(r)

    page.route(f"{s3_storage.endpoint_url}/**", route)
    pick(page, content)
    page.evaluate("() => { window.done = uppy.upload(); }")
    wait_for(page, lambda: events(page, "part") and arrived, "part 1 to be answered and part 2 to reach the bucket")
    session = UploadSession.objects.get()
    assert session.state == UploadSession.State.OPEN
    page.evaluate("() => uppy.pauseAll()")
    page.unroute(f"{s3_storage.endpoint_url}/**")
    for held_route in held:
        try:
            held_route.abort()
        except Exception:  # already cancelled by the page
            pass
    puts = part_puts(page)
    before = len(calls)
    page.evaluate("() => uppy.resumeAll()")
    assert page.evaluate("() => window.done.then((r) => r.successful.length)") == 1, page.evaluate("() => events")
    assert calls[before:].count("uploadedParts") == 1
    assert [part_number(u) for u in puts] == [3], puts
    assert calls.count("startMultipartUpload") == 1
    [success] = events(page, "success")
    assert success["key"] == session.key
    obj = S3Big()
    obj.file = AsyncFileInputData(success["key"], "big.pdf", request=request_for(user))
    obj.save()
    assert download(page, obj) == content
    assert not UploadSession.objects.filter(state=UploadSession.State.OPEN).exists()
    assert open_uploads(success["key"]) == []


def test_a_file_the_field_refuses_fails_in_uppy_with_the_server_s_message_and_nothing_is_written(uppy):
    page = uppy
    calls, bucket = graphql_calls(page), bucket_requests(page)
    open_before = open_uploads("")
    page.set_input_files("#pick", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"plain text\n" * 100})
    result = page.evaluate("() => uppy.upload().then((r) => ({ ok: r.successful.length, failed: r.failed.length }))")
    assert result == {"ok": 0, "failed": 1}
    [error] = events(page, "error")
    assert error["message"] == "'notes.txt' is not an accepted file type; accepted: .pdf.", error
    assert calls == ["startMultipartUpload"]
    assert bucket == [], "nothing was sent to the bucket"
    assert not UploadSession.objects.exists()
    assert not AsyncTempFile.objects.exists()
    assert open_uploads("") == open_before, "no multipart upload was started"
