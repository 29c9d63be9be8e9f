"""The example project's demo page at /, driven in headless Chromium on each storage backend.

The example runs as a real server (``scripts/run-example.sh --noreload``, what ``make run`` runs)
with its own SQLite database and media root, on the filesystem storage, on moto's S3 server
(``s3_server``) and on Azurite (``azurite``), each with a bucket / container of its own that the
example creates itself, with its own CORS rules. The page is used as a person would: sign in,
pick files, watch the progress bar, save, follow the links.

``DEMO_SCREENSHOT=docs/images/demo-page.png`` saves the page after the successful uploads on the
filesystem backend (the README's screenshot):

    DEMO_SCREENSHOT=docs/images/demo-page.png .venv/bin/python -m pytest tests/test_browser_demo.py \
        -k "uploads and filesystem" -p no:cacheprovider
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import azurite_connection_string, free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run-example.sh"
DEMO_JS = ROOT / "example_project" / "example" / "static" / "example" / "demo.js"
MiB = 1024 * 1024
# The example's Document.attachment accepts at most 10 MB.
MAX_DOCUMENT_BYTES = 10 * MiB
# The example sends files of 5 MiB or more in parts.
MULTIPART_THRESHOLD = 5 * MiB
# Variables that would aim the example at another database or storage than the test's.
INHERITED = (
    "DATABASE_URL",
    "AWS_S3_ENDPOINT_URL",
    "AZURE_CONNECTION_STRING",
    "EXAMPLE_S3_BUCKET",
    "EXAMPLE_AZURE_CONTAINER",
    "DJANGO_SECRET_KEY",  # the script makes one per run directory
    "DJANGO_DEBUG",
)


# The example always runs on a SQLite database of its own: the PostgreSQL and MariaDB legs of
# scripts/test-matrix.sh would repeat exactly the same runs (a minute and a half each).
pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "sqlite").startswith("sqlite"),
    reason="the demo page tests run the example on its own SQLite database: they run in the SQLite leg",
)


class Example:
    """The example project running as a server in a subprocess."""

    def __init__(self, backend: str, url: str, database: Path, log: Path, env: dict[str, str]):
        self.backend = backend
        self.url = url
        self.database = database
        self.log = log
        self.env = env  # the storage settings it was given

    def cors_origins(self) -> list[str]:
        """Return the origins the CORS rules of its bucket (S3) or Blob service (Azure) allow."""
        if self.backend == "s3":
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=self.env["AWS_S3_ENDPOINT_URL"],
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            rules = client.get_bucket_cors(Bucket=self.env["EXAMPLE_S3_BUCKET"])["CORSRules"]
            return [o for rule in rules for o in rule["AllowedOrigins"]]
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.env["AZURE_CONNECTION_STRING"])
        return [o for rule in service.get_service_properties()["cors"] for o in rule.allowed_origins.split(",")]

    def count(self, table: str) -> int:
        """Return how many rows ``table`` of the example's database holds."""
        with sqlite3.connect(self.database) as db:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database) as db:
            return list(db.execute(sql).fetchall())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_example(tmp: Path, backend: str, own_database: bool = True, **env: str) -> tuple[subprocess.Popen, Example]:
    """Start ``scripts/run-example.sh`` for ``backend`` on a free port; wait until the page answers.

    ``own_database=False`` leaves the choice of database to the script (it picks one beside the
    emulator it starts).
    """
    port = free_port()
    database = tmp / "example.sqlite3" if own_database else tmp / "run" / backend / "db.sqlite3"
    log = tmp / "example.log"
    environment = {k: v for k, v in os.environ.items() if k not in INHERITED}
    environment.update(
        {
            "VENV": sys.prefix,  # this test run's environment (CI runs the suite against the built wheel too)
            "PORT": str(port),
            "EXAMPLE_STORAGE": backend,
            **({"DATABASE_URL": f"sqlite:///{database}"} if own_database else {}),
            "EXAMPLE_MEDIA_ROOT": str(tmp / "media"),
            "EXAMPLE_RUN_DIR": str(tmp / "run"),
            "DJANGO_SETTINGS_MODULE": "example.settings",
            **env,
        }
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", str(SCRIPT), "--noreload"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, for the last resort in stop()
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not _answers(url + "/"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"The example ({backend}) did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc, Example(backend, url, database, log, env)


def stop(proc: subprocess.Popen) -> int:
    """Send SIGTERM to the script alone (its trap must stop what it started); return its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


@pytest.fixture(scope="module", params=["filesystem", "s3", "azure"])
def example(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Example]:
    """The example project served on a free port, on one storage backend (once there is a browser to use it)."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"example-{backend}")
    env: dict[str, str] = {}
    if backend == "s3":
        server = request.getfixturevalue("s3_server")
        env = {
            "AWS_S3_ENDPOINT_URL": server.url,
            "EXAMPLE_S3_BUCKET": "demo-page-test",  # not the fixture's: the example creates it and sets CORS
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    elif backend == "azure":
        server = request.getfixturevalue("azurite")
        env = {"AZURE_CONNECTION_STRING": server.connection_string, "EXAMPLE_AZURE_CONTAINER": "demo-page-test"}
    # Parts of 2 MiB on the filesystem and Azure (S3 keeps its 5 MiB): a 9 MiB file makes 5 there.
    env["EXAMPLE_MULTIPART_PART_SIZE"] = str(2 * MiB)
    proc, running = start_example(tmp, backend, **env)
    yield running
    stop(proc)


def png(width: int, height: int) -> bytes:
    """A real PNG: a colour gradient, so the screenshot shows something."""
    from PIL import Image

    x = Image.linear_gradient("L").resize((width, height))
    y = Image.linear_gradient("L").rotate(90).resize((width, height))
    image = Image.merge("RGB", (x, y, Image.new("L", (width, height), 180)))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def pdf(size: int) -> bytes:
    """Bytes that sniff as a PDF, ``size`` long (enough for several progress events)."""
    head = b"%PDF-1.4\n% demo page test\n"
    return head + bytes(i % 251 for i in range(size - len(head)))


def sign_in(page: Any, example: Example) -> None:
    page.goto(example.url + "/")
    link = page.locator("#sign-in")
    assert link.get_attribute("href") == "/admin/login/?next=%2F"
    assert page.locator("#demo").count() == 0  # no forms for an anonymous visitor
    link.click()
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo")
    page.click("input[type=submit]")
    page.wait_for_url(example.url + "/")
    page.wait_for_selector("#documents:not([aria-busy])")
    page.wait_for_selector("#photos:not([aria-busy])")


def pick(page: Any, form: str, name: str, content: bytes, mime: str) -> None:
    page.set_input_files(f"{form} input[type=file]", files=[{"name": name, "mimeType": mime, "buffer": content}])


def progress_of(page: Any, form: str) -> dict[str, float]:
    return page.eval_on_selector(f"{form} progress", "p => ({value: p.value, max: p.max})")


def wait_uploaded(page: Any, form: str, size: int) -> None:
    page.wait_for_selector(f"{form}[data-upload=uploaded]")
    assert progress_of(page, form) == {"value": size, "max": size}


def errors_of(page: Any, form: str) -> str:
    errors = page.locator(f"{form} .errors")
    errors.wait_for(state="visible")
    return errors.inner_text()


def poll(page: Any, done: Callable[[], bool], seconds: float) -> None:
    """Let the page run until ``done()`` holds or ``seconds`` pass (the caller asserts what it needs)."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        page.wait_for_timeout(50)


def part_size_of(example: Example) -> int:
    """The example's part size: 2 MiB (the fixture's setting), 5 MiB on S3 (its smallest part)."""
    return 5 * MiB if example.backend == "s3" else 2 * MiB


@pytest.mark.browser
def test_uploads_a_document_and_a_photo(example: Example, page: Any) -> None:
    if example.backend != "filesystem":
        # moto answers any origin while a bucket has no CORS rules; with rules, only theirs.
        assert example.url in example.cors_origins()
    sign_in(page, example)
    # Record what the progress bar showed at each of the upload's progress events.
    page.evaluate(
        """() => {
        window.progressSeen = [];
        const send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.send = function (body) {
          this.upload.addEventListener('progress', () => {
            const bar = document.querySelector('#document-form progress');
            window.progressSeen.push([bar.value, bar.max]);
          });
          return send.call(this, body);
        };
      }"""
    )

    document = pdf(600 * 1024)
    page.fill("#document-form input[name=title]", "Quarterly notes")
    pick(page, "#document-form", "quarterly-notes.pdf", document, "application/pdf")
    wait_uploaded(page, "#document-form", len(document))
    provider = {"filesystem": "this server", "s3": "S3", "azure": "Azure Blob"}[example.backend]
    status = page.locator("#document-form .status").inner_text()
    assert status == f"Uploaded quarterly-notes.pdf (600.0 KB) to {provider}."
    seen = page.evaluate("window.progressSeen")
    # The bar followed the request's bytes (a multipart body is a little larger than the file) to its max.
    assert seen and seen[-1][0] == seen[-1][1] >= len(document), seen
    page.click("#document-form button[type=submit]")
    link = page.locator("#documents li", has_text="Quarterly notes").locator("a.download")
    link.wait_for()
    assert link.inner_text() == "quarterly-notes.pdf"
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == document

    image = png(320, 240)
    page.fill("#photo-form input[name=caption]", "Gradient")
    pick(page, "#photo-form", "gradient.png", image, "image/png")
    wait_uploaded(page, "#photo-form", len(image))
    page.click("#photo-form button[type=submit]")
    thumbnail = page.locator("#photos img[alt=Gradient]")
    thumbnail.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 240]
    assert "320\u00d7240" in page.locator("#photos li", has_text="Gradient").inner_text()
    href = page.locator("#photos li", has_text="Gradient").locator("a.download").get_attribute("href")
    assert page.request.get(href).body() == image

    # Saved, and moved from the temporary key to the permanent names.
    [(doc_id, attachment)] = example.rows("SELECT id, attachment FROM example_document WHERE title = 'Quarterly notes'")
    assert attachment == f"documents/{doc_id}/quarterly-notes.pdf"
    [(photo, width, height)] = example.rows("SELECT image, width, height FROM example_photo WHERE caption = 'Gradient'")
    assert photo.startswith("photos/") and (width, height) == (320, 240)
    assert page.locator("#photo-form .status").inner_text() == "Saved “Gradient”."
    assert page.console_errors == []

    screenshot = os.environ.get("DEMO_SCREENSHOT")
    if screenshot and example.backend == "filesystem":
        # One more file, uploaded but not saved yet: the bar full, the form half filled in.
        draft = pdf(200 * 1024)
        page.fill("#document-form input[name=title]", "Draft contract")
        pick(page, "#document-form", "draft-contract.pdf", draft, "application/pdf")
        wait_uploaded(page, "#document-form", len(draft))
        page.set_viewport_size({"width": 1280, "height": 720})
        page.mouse.move(0, 0)
        page.screenshot(path=screenshot, full_page=True)


@pytest.mark.browser
def test_oversize_file_is_refused(example: Example, page: Any, tmp_path: Path) -> None:
    sign_in(page, example)
    documents, temp_files = example.count("example_document"), example.count("async_uploads_asynctempfile")
    sessions = example.count("async_uploads_uploadsession")
    big = tmp_path / "big.pdf"  # above the multipart threshold: refused by startMultipartUpload
    with big.open("wb") as fh:
        fh.write(b"%PDF-1.4\n")
        fh.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: quick to make, a real file of that size to the browser
    page.fill("#document-form input[name=title]", "Too big")
    page.set_input_files("#document-form input[type=file]", files=[str(big)])
    text = errors_of(page, "#document-form")
    # The refusal counts in the units of the hint above the picker.
    assert "at most 10 MB." in page.locator("#document-form").inner_text()
    assert "The file is 10.000001 MB; this field accepts at most 10 MB." in text
    assert "file_too_large" in text
    assert page.locator("#document-form").get_attribute("data-upload") == "failed"
    assert progress_of(page, "#document-form")["value"] == 0
    page.click("#document-form button[type=submit]")  # saving stays refused
    page.wait_for_timeout(300)
    assert page.locator("#document-form .errors").is_visible()
    assert example.count("example_document") == documents
    assert example.count("async_uploads_asynctempfile") == temp_files  # refused before any URL was issued
    assert example.count("async_uploads_uploadsession") == sessions  # and before any upload in parts started
    assert page.locator("#documents li", has_text="Too big").count() == 0
    assert page.console_errors == []


@pytest.mark.browser
def test_wrong_file_types_are_refused(example: Example, page: Any) -> None:
    sign_in(page, example)
    documents = example.count("example_document")
    # No empty progress bar before a file is picked.
    assert not page.locator("#document-form progress").is_visible()
    assert not page.locator("#photo-form progress").is_visible()

    # By its name, before anything is uploaded.
    page.fill("#document-form input[name=title]", "A program")
    pick(page, "#document-form", "setup.exe", b"MZ\x90\x00" + b"\x00" * 200, "application/x-msdownload")
    text = errors_of(page, "#document-form")
    assert "'setup.exe' is not an accepted file type; accepted: .pdf, .txt, .docx, image/*." in text
    assert "invalid_file_type" in text

    # By its content, when the record is saved: a ".pdf" that is plain text.
    fake = b"Not a PDF at all, just text pretending.\n" * 50
    page.fill("#document-form input[name=title]", "Fake PDF")
    pick(page, "#document-form", "fake.pdf", fake, "application/pdf")
    wait_uploaded(page, "#document-form", len(fake))
    assert page.locator("#document-form progress").is_visible()
    assert page.locator("#document-form .status").inner_text().startswith("Uploaded fake.pdf")
    assert not page.locator("#document-form .errors").is_visible()
    page.click("#document-form button[type=submit]")
    text = errors_of(page, "#document-form")
    assert "The uploaded content is text/plain (text), which is not an accepted type for fake.pdf" in text
    assert "invalid_file_type" in text
    # One state at a time: the refusal replaces the green "Uploaded" and the full bar.
    assert page.locator("#document-form .status").inner_text() == ""
    assert not page.locator("#document-form progress").is_visible()

    assert example.count("example_document") == documents
    assert page.locator("#documents li", has_text="Fake PDF").count() == 0
    assert page.locator("#documents li", has_text="A program").count() == 0
    assert page.console_errors == []


@pytest.mark.browser
def test_a_large_file_goes_in_parts_pauses_resumes_and_survives_a_reload(
    example: Example, page: Any, tmp_path: Path
) -> None:
    """Above the threshold the page uploads in parts: pause and resume; a dropped connection, then a
    reload and the same pick send only the parts storage does not hold; saved and downloaded whole."""
    sign_in(page, example)
    content = pdf(9 * MiB + 77)
    part_size = part_size_of(example)
    part_count = -(-len(content) // part_size)  # 2 on S3, 5 elsewhere
    path = tmp_path / "survey-scans.pdf"  # on disk: the same lastModified on every pick (the fingerprint)
    path.write_bytes(content)
    stored: list[str] = []  # the part requests storage answered with success
    page.on("response", lambda r: stored.append(r.url) if r.request.method == "PUT" and r.ok else None)

    # Hold the first part requests, and pause while they hang.
    held: list[Any] = []
    dropping: list[Any] = []  # the other parts, held until the allowed one is stored
    mode = {"allow": 0, "hold": True, "drop": False}

    def parts_route(route: Any) -> None:
        if route.request.method != "PUT":
            route.continue_()
        elif mode["hold"]:
            held.append(route)
        elif mode["allow"] > 0:
            mode["allow"] -= 1
            route.continue_()
        elif mode["drop"]:
            route.abort("connectionreset")  # the connection drops: every try of the other parts fails
        else:
            dropping.append(route)

    def sessions() -> list[tuple[Any, ...]]:
        return example.rows(
            "SELECT state FROM async_uploads_uploadsession"
            " WHERE key LIKE '%draft%' OR key LIKE '%survey-scans%' ORDER BY id"
        )

    def wait_held(count: int) -> None:
        """Wait until ``count`` part requests hang (every part the page has in flight)."""
        poll(page, lambda: len(held) >= count, 20)
        assert len(held) == count, f"{len(held)} part requests hang, not {count}"

    page.route("**/*", parts_route)
    form = "#document-form"
    # A file replaced by another while its parts hang: its session is aborted.
    pick(page, form, "draft.pdf", pdf(6 * MiB), "application/pdf")
    wait_held(min(4, -(-6 * MiB // part_size)))  # 4 in flight at most
    held.clear()
    page.fill(f"{form} input[name=title]", "Survey scans")
    page.set_input_files(f"{form} input[type=file]", files=[str(path)])
    page.locator(f"{form} button.pause").wait_for()
    wait_held(min(4, part_count))
    assert sessions() == [("aborted",), ("open",)]
    status = page.locator(f"{form} .status").inner_text()
    assert status.startswith(f"Uploading survey-scans.pdf (9.0 MB) in {part_count} parts"), status
    page.click(f"{form} button.pause")
    assert page.locator(form).get_attribute("data-upload") == "paused"
    assert page.locator(f"{form} .status").inner_text() == f"Paused: 0 of {part_count} parts sent."
    assert page.locator(f"{form} button.resume").is_visible()
    assert not page.locator(f"{form} button.pause").is_visible()
    assert page.locator(f"{form} progress").is_visible()

    # Resume: one part gets through, then the connection drops for good.
    mode.update(hold=False, allow=1)
    page.click(f"{form} button.resume")
    poll(page, lambda: bool(stored), 30)
    assert len(stored) == 1, "the part let through was not stored"
    mode["drop"] = True
    for route in dropping:
        route.abort("connectionreset")
    text = errors_of(page, form)
    assert "Pick survey-scans.pdf again to send the parts that are missing." in text
    assert page.locator(form).get_attribute("data-upload") == "failed"
    assert len(stored) == 1
    assert example.rows("SELECT COUNT(*) FROM example_document WHERE title = 'Survey scans'") == [(0,)]
    # Kept for the resume.
    assert sessions() == [("aborted",), ("open",)]

    # A reload, the same file: only the parts storage does not hold go.
    page.unroute("**/*", parts_route)
    page.console_errors.clear()  # the dropped connections' errors: the rest must have none
    page.reload()
    page.wait_for_selector("#documents:not([aria-busy])")
    page.fill(f"{form} input[name=title]", "Survey scans")
    page.set_input_files(f"{form} input[type=file]", files=[str(path)])
    page.wait_for_selector(f"{form}[data-upload=uploaded]", timeout=60_000)
    assert progress_of(page, form) == {"value": len(content), "max": len(content)}
    assert page.locator(f"{form} .status").inner_text() == "Uploaded survey-scans.pdf (9.0 MB) in parts."
    assert len(stored) == part_count  # 1 before the reload, every other one once after it
    page.click(f"{form} button[type=submit]")
    page.locator("#documents li", has_text="Survey scans").locator("a.download").wait_for()

    # 9 MB is over the example's BACKGROUND_MOVE_MIN_SIZE: the worker moves it after the save. A
    # link fetched while it moves can be answered for the temporary object just before the worker
    # deletes it, so wait for the permanent name and fetch the link of a fresh page.
    def attachment() -> str:
        return example.rows("SELECT attachment FROM example_document WHERE title = 'Survey scans'")[0][0]

    deadline = time.monotonic() + 60
    while attachment().startswith("async-temp-files/"):
        assert time.monotonic() < deadline, f"the worker did not move the upload: {attachment()}"
        time.sleep(0.2)
    page.reload()
    link = page.locator("#documents li", has_text="Survey scans").locator("a.download")
    link.wait_for()
    body = page.request.get(link.get_attribute("href")).body()
    assert body == content, body[:300]
    # The same session taken up after the reload, completed; nothing left to resume.
    assert sessions() == [("aborted",), ("completed",)]
    assert page.evaluate("Object.keys(localStorage).filter(k => k.includes(':multipart:'))") == []
    assert page.console_errors == []


@pytest.mark.browser
def test_a_pause_while_the_parts_are_being_signed_sends_none_of_them_until_the_resume(
    example: Example, page: Any
) -> None:
    sign_in(page, example)
    content = pdf(6 * MiB + 5)
    part_count = -(-len(content) // part_size_of(example))
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "PUT" else None)
    held: list[Any] = []

    def hold_signing(route: Any) -> None:
        if "signUploadParts" in (route.request.post_data or ""):
            held.append(route)
        else:
            route.continue_()

    page.route("**/graphql/", hold_signing)
    form = "#document-form"
    page.fill(f"{form} input[name=title]", "Signed late")
    pick(page, form, "signed-late.pdf", content, "application/pdf")
    page.locator(f"{form} button.pause").wait_for()
    poll(page, lambda: bool(held), 20)
    assert len(held) == 1, "the page did not ask for its parts' signatures"
    page.click(f"{form} button.pause")
    with page.expect_response(lambda r: "/graphql/" in r.url and r.request.method == "POST"):
        held[0].continue_()
    page.wait_for_timeout(500)  # the signatures are in the page: a part sent now would be in ``sent``
    assert sent == []
    assert page.locator(form).get_attribute("data-upload") == "paused"
    page.unroute("**/graphql/", hold_signing)
    page.click(f"{form} button.resume")
    wait_uploaded(page, form, len(content))
    assert len(sent) == part_count  # each part once, after the resume
    assert page.console_errors == []


@pytest.mark.browser
def test_a_large_file_refused_when_its_parts_are_put_together_leaves_nothing(example: Example, page: Any) -> None:
    sign_in(page, example)
    documents = example.count("example_document")
    fake = b"Plain text that calls itself a PDF.\n" * (6 * MiB // 36)  # above the threshold: in parts
    page.fill("#document-form input[name=title]", "Fake scan")
    pick(page, "#document-form", "fake-scan.pdf", fake, "application/pdf")
    text = errors_of(page, "#document-form")
    assert "The uploaded content is text/plain (text), which is not an accepted type for fake-scan.pdf" in text
    assert "invalid_file_type" in text
    assert "again" not in text  # nothing to resume: the server aborted the session
    assert page.locator("#document-form").get_attribute("data-upload") == "failed"
    assert not page.locator("#document-form progress").is_visible()
    assert not page.locator("#document-form button.pause").is_visible()
    assert example.rows("SELECT state FROM async_uploads_uploadsession WHERE key LIKE '%fake-scan%'") == [("aborted",)]
    assert page.evaluate("Object.keys(localStorage).filter(k => k.includes(':multipart:'))") == []
    assert example.count("example_document") == documents
    assert page.console_errors == []


def test_demo_operations_are_valid_against_schema_graphql() -> None:
    """The page's GraphQL documents validate against schema.graphql (which a test keeps current)."""
    from graphql import build_schema, parse, validate

    schema = build_schema((ROOT / "schema.graphql").read_text())
    source = DEMO_JS.read_text()
    messages = re.search(r'const MESSAGES = "([^"]+)";', source)
    assert messages is not None
    operations = re.findall(r"= `(\s*(?:query|mutation) .*?)`;", source, flags=re.S)
    assert len(operations) == 9
    for operation in operations:
        document = parse(operation.replace("${MESSAGES}", messages.group(1)))
        assert validate(schema, document) == [], operation


def _emulator_port(log: Path, name: str) -> int:
    found = re.search(rf"Started {name} on http://127\.0\.0\.1:(\d+)", log.read_text())
    assert found, log.read_text()[-2000:]
    return int(found.group(1))


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_run_example_starts_and_stops_its_own_emulator(backend: str, tmp_path: Path) -> None:
    """``EXAMPLE_STORAGE=s3|azure make run`` with no endpoint: an emulator, a bucket with CORS, a clean stop."""
    if backend == "s3" and not (Path(sys.prefix) / "bin" / "moto_server").exists():
        pytest.skip("moto_server is not installed in this environment")
    if backend == "azure" and not (ROOT / "tests" / "node" / "node_modules" / ".bin" / "azurite-blob").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Azurite is not installed (CI=true requires it)")
        pytest.skip("!!! Azurite is not installed (npm ci in tests/node)")
    proc, example = start_example(tmp_path, backend, own_database=False)
    try:
        if backend == "s3":
            port = _emulator_port(example.log, "moto's S3 server")
            example.env = {"AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "EXAMPLE_S3_BUCKET": "example-uploads"}
        else:
            from azure.storage.blob import BlobServiceClient

            port = _emulator_port(example.log, "Azurite")
            example.env = {"AZURE_CONNECTION_STRING": azurite_connection_string(port)}
            service = BlobServiceClient.from_connection_string(example.env["AZURE_CONNECTION_STRING"])
            assert service.get_container_client("example-uploads").exists()
        assert example.url in example.cors_origins()  # for s3, get_bucket_cors also shows the bucket exists
        assert example.count("auth_user") == 1  # the demo user, in the database beside the emulator's data
    finally:
        returncode = stop(proc)
    assert returncode == 143  # stopped by SIGTERM, through the script's trap
    deadline = time.monotonic() + 10
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _port_open(port), "the emulator outlived the example"
    assert not _port_open(int(example.url.rsplit(":", 1)[1]))


def _server_environment(proc: subprocess.Popen) -> dict[str, str]:
    """The environment of the runserver the script started (its child process)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    for child in children:
        raw = Path(f"/proc/{child}/environ").read_bytes()
        env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
        if "PORT" in env:
            return env
    raise AssertionError(f"no runserver among the children {children} of the script")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the server's environment from /proc")
def test_run_example_makes_a_secret_key_once_and_keeps_it(tmp_path: Path) -> None:
    """``make run`` passes a secret key of this checkout: made on the first run (mode 0600), then reused."""
    secret_file = tmp_path / "run" / "secret_key"
    keys = []
    for _ in range(2):
        proc, _example = start_example(tmp_path, "filesystem")
        try:
            env = _server_environment(proc)
        finally:
            stop(proc)
        assert secret_file.stat().st_mode & 0o777 == 0o600
        key = secret_file.read_text().strip()
        assert env["DJANGO_SECRET_KEY"] == key
        assert env["DJANGO_DEBUG"] == "1"
        keys.append(key)
    assert keys[0] == keys[1]
    assert len(keys[0]) >= 50
    assert (tmp_path / "run" / ".gitignore").read_text() == "*\n"


SAVE_PROBE = r"""
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from async_uploads.inputs import AsyncFileInputData
from example.models import Document
client = Client()
client.force_login(get_user_model().objects.get(username="demo"))
issued = client.post("/async-uploads/generate-upload-url/", {"field_id": "example.Document.attachment",
                     "filename": "minutes.txt", "content_type": "text/plain"}).json()
client.post(issued["uploadUrl"]["url"], {"file": SimpleUploadedFile("minutes.txt", b"minutes", "text/plain")})
doc = Document.objects.create(title="minutes", attachment=AsyncFileInputData(key=issued["key"], name="m", trusted=True))
print(doc.pk, doc.attachment.name)
"""


@pytest.mark.skipif(
    not Path("/proc/self/task").exists(), reason="finds the worker among the script's children in /proc"
)
def test_run_example_moves_uploads_with_the_worker_it_starts(tmp_path: Path) -> None:
    """``make run`` starts the database task worker beside the server; it moves saved uploads, and stops with it."""
    proc, example = start_example(tmp_path, "filesystem", EXAMPLE_BACKGROUND_MOVE_MIN_SIZE="0")
    try:
        environment = {k: v for k, v in os.environ.items() if k not in INHERITED}
        environment.update(
            DJANGO_SETTINGS_MODULE="example.settings",
            DATABASE_URL=f"sqlite:///{example.database}",
            EXAMPLE_MEDIA_ROOT=str(tmp_path / "media"),
            EXAMPLE_BACKGROUND_MOVE_MIN_SIZE="0",
        )
        saved = subprocess.run(
            [sys.executable, "-c", SAVE_PROBE],
            cwd=ROOT / "example_project",
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert saved.returncode == 0, saved.stderr
        pk, key = saved.stdout.split()[-2:]
        assert key.startswith("async-temp-files/"), "saved on the temporary key: the move is the worker's"
        deadline = time.monotonic() + 30
        while example.rows(f"SELECT attachment FROM example_document WHERE id = {int(pk)}") == [(key,)]:
            assert time.monotonic() < deadline, (
                f"the worker did not move the upload:\n{example.log.read_text()[-3000:]}"
            )
            time.sleep(0.2)
        assert example.rows(f"SELECT attachment FROM example_document WHERE id = {int(pk)}") == [
            (f"documents/{pk}/minutes.txt",)
        ]
        assert (tmp_path / "media" / "documents" / pk / "minutes.txt").read_bytes() == b"minutes"
        workers = [c for c in _children(proc.pid) if b"db_worker" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 1
    finally:
        assert stop(proc) == 143
    assert not Path(f"/proc/{workers[0]}").exists() or b"zombie" in Path(f"/proc/{workers[0]}/status").read_bytes()


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
