"""The widget uploading in parts, in a real browser, on each backend over real HTTP.

The settings make 5 MiB parts and send files of 5 MiB or more in parts, so an 11 MiB file makes
three (S3 wants every part but the last to be at least 5 MiB). Part requests are the browser's
``PUT``s (S3 UploadPart, Azure Put Block, the filesystem part view): the tests count them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from async_uploads.models import AsyncTempFile, UploadSession
from tests import test_browser_widget as single
from tests.cloudapp.models import AzureBig, FsBig, S3Big, azure_storage, fs_storage, s3_storage
from tests.test_browser_widget import saved_bytes, widget
from tests.test_multipart import pdf_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024
SIZE = 11 * MiB + 123  # three parts: 5 MiB, 5 MiB and the rest
MODELS = {"filesystem": FsBig, "s3": S3Big, "azure": AzureBig}

admin_page = single.admin_page  # the fixture: the page signed in to the admin


@pytest.fixture
def in_parts(settings: Any) -> Any:
    def configure(concurrency: int = 4, pending: int = 1024 * MiB) -> None:
        settings.ASYNC_UPLOADS = {
            "MULTIPART_PART_SIZE": 5 * MiB,
            "MULTIPART_THRESHOLD": 5 * MiB,
            "MULTIPART_CONCURRENCY": concurrency,
            "MAX_PENDING_BYTES": pending,
        }

    return configure


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    """A file on disk, so its lastModified (part of the widget's fingerprint) is the same on every pick."""
    content = pdf_of(SIZE, seed=7)
    path = tmp_path / "big.pdf"
    path.write_bytes(content)
    return path, content


def backend_ready(request: Any, backend: str, live_server: Any) -> None:
    # CORS on the one service under test (the command would set it on every storage of the registry).
    if backend == "s3":
        request.getfixturevalue("s3_server")
        s3_storage.apply_cors([live_server.url])
    elif backend == "azure":
        request.getfixturevalue("azurite")
        azure_storage.apply_cors([live_server.url])


def count_part_requests(page: Any) -> list[Any]:
    sent: list[Any] = []
    page.on("request", lambda r: sent.append(r) if r.method == "PUT" else None)
    return sent


def cookies_sent(request: Any) -> bool:
    return "cookie" in request.all_headers()


def wait_idle(page: Any, box: Any, timeout: int = 60_000) -> None:
    page.wait_for_function("el => !el.hasAttribute('data-busy')", arg=box.element_handle(), timeout=timeout, polling=50)


def add_url(page: Any, model: Any) -> str:
    return f"{page.base_url}/admin/cloudapp/{model._meta.model_name}/add/"


def save_and_check(page: Any, model: Any, content: bytes) -> None:
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    obj = model.objects.get()
    assert obj.file.name.startswith("big/") and obj.file.name.endswith(".pdf")
    assert saved_bytes(obj.file) == content
    assert not AsyncTempFile.objects.filter(moved_to_location="").exists()


@pytest.mark.parametrize("backend", ["filesystem", "s3", "azure"])
def test_parts_cut_off_then_a_reload_and_the_same_pick_send_only_the_missing_parts(
    request, admin_page, live_server, in_parts, big_file, backend
):
    in_parts(concurrency=1)  # parts one after the other: the first arrives, the network then fails
    backend_ready(request, backend, live_server)
    model = MODELS[backend]
    path, content = big_file
    page = admin_page
    routed: list[str] = []

    def first_part_only(route: Any) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        routed.append(route.request.url)
        if len(routed) == 1:
            route.continue_()
        else:
            route.abort()  # a network error: the widget tries each part three times

    page.route("**/*", first_part_only)
    page.goto(add_url(page, model))
    box = widget(page, "file")
    assert box.get_attribute("data-multipart-threshold") == str(5 * MiB)
    box.locator(".async-file-input__picker").set_input_files(str(path))
    wait_idle(page, box)
    error = box.locator(".async-file-input__error")
    assert error.is_visible() and "could not reach the storage" in error.inner_text()
    # One state at a time: the refusal, without a status or a progress bar beside it.
    assert box.locator(".async-file-input__status").inner_text() == ""
    assert box.locator(".async-file-input__progress").is_hidden()
    assert len(routed) == 1 + 3, routed  # part 1, then part 2 tried three times
    session = UploadSession.objects.get()
    assert session.state == UploadSession.State.OPEN and session.part_count == 3
    assert not model.objects.exists()

    page.unroute("**/*")
    page.reload()
    sent = count_part_requests(page)
    with page.expect_request("**/multipart/parts/**") as asked:
        box = widget(page, "file")
        box.locator(".async-file-input__picker").set_input_files(str(path))
    wait_idle(page, box)
    assert box.locator(".async-file-input__error").is_hidden(), box.locator(".async-file-input__error").inner_text()
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded big.pdf."
    assert box.locator(".async-file-input__progress").evaluate("el => el.value === el.max && el.max > 0")
    assert len(sent) == 2, sent  # parts 2 and 3 only: part 1 had arrived
    # The part requests carry no cookies, the server's own calls do (the session signs the user in).
    assert cookies_sent(asked.value) and not any(cookies_sent(r) for r in sent)
    assert UploadSession.objects.get().key == session.key  # the remembered session, not a new one
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('async-uploads:'))") == []
    save_and_check(page, model, content)
    assert page.console_errors == [] or all("net::ERR_FAILED" in e for e in page.console_errors)


def test_pause_stops_the_parts_and_resume_sends_only_the_rest(admin_page, in_parts, big_file):
    in_parts(concurrency=1)
    path, content = big_file
    page = admin_page
    held: list[Any] = []
    routed: list[str] = []

    def hold_the_second(route: Any) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        routed.append(route.request.url)
        if len(routed) == 2 and not held:
            held.append(route)  # never answered: the browser is still sending part 2
        else:
            route.continue_()

    page.route("**/*", hold_the_second)
    page.goto(add_url(page, FsBig))
    box = widget(page, "file")
    pause, resume = box.locator(".async-file-input__pause"), box.locator(".async-file-input__resume")
    assert pause.is_hidden() and resume.is_hidden()
    box.locator(".async-file-input__picker").set_input_files(str(path))
    page.wait_for_function("() => true")  # let the change event run
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "part 2 was never sent"
    assert pause.is_visible()
    page.click("input[name=_save]")  # refused while the parts go: the bar and status stay
    status, bar, error = (box.locator(f".async-file-input__{name}") for name in ("status", "progress", "error"))
    assert status.inner_text() == "Uploading big.pdf… Wait for the upload to finish before saving."
    assert bar.is_visible() and error.is_hidden()
    pause.click()
    page.wait_for_function("el => el.hasAttribute('data-paused')", arg=box.element_handle(), timeout=10_000)
    assert resume.is_visible() and pause.is_hidden()
    assert status.inner_text() == "Paused at 45%."
    # Saving while paused is refused too: the file has not arrived.
    page.click("input[name=_save]")
    assert status.inner_text() == "Paused at 45%. Wait for the upload to finish before saving."
    assert bar.is_visible() and error.is_hidden()
    assert not FsBig.objects.exists()
    before = len(routed)
    resume.click()
    wait_idle(page, box)
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded big.pdf."
    assert box.locator(".async-file-input__error").is_hidden()
    assert len(routed) - before == 2  # parts 2 and 3: part 1 had arrived before the pause
    save_and_check(page, FsBig, content)


def test_a_new_pick_aborts_the_running_session_on_the_server(admin_page, in_parts, big_file):
    in_parts()
    path, _ = big_file
    page = admin_page
    held: list[Any] = []
    page.route("**/upload-part-direct/**", lambda route: held.append(route))  # no part ever arrives
    page.goto(add_url(page, FsBig))
    box = widget(page, "file")
    box.locator(".async-file-input__picker").set_input_files(str(path))
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held
    session = UploadSession.objects.get()
    assert os.path.isdir(fs_storage.parts_directory(session.upload_id))
    small = b"%PDF-1.4\n" + b"s" * 1000 + b"\n%%EOF\n"  # under the threshold: a single upload
    # What is left is checked once the server has answered the abort the new pick sends.
    with page.expect_response(lambda r: "/multipart/abort/" in r.url) as aborted:
        box.locator(".async-file-input__picker").set_input_files(
            {"name": "small.pdf", "mimeType": "application/pdf", "buffer": small}
        )
    assert aborted.value.status == 200
    session.refresh_from_db()
    assert session.state == UploadSession.State.ABORTED
    assert not os.path.exists(fs_storage.parts_directory(session.upload_id)), "no part files left"
    assert not fs_storage.exists(session.key)
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('async-uploads:'))") == []
    wait_idle(page, box)
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded small.pdf."
    assert box.locator(".async-file-input__pause").is_hidden()
    save_and_check(page, FsBig, small)


def first_url(puts: dict[str, int]) -> str:
    return next(iter(puts))


def test_a_5xx_part_is_sent_again_a_403_is_signed_again_once_and_parts_are_signed_as_needed(admin_page, settings):
    """On the filesystem (no smallest part): 1 KiB parts make 30 of them, signed 8 at a time (twice the
    concurrency) as the parts go, not all up front, so no signature waits long enough to expire."""
    settings.ASYNC_UPLOADS = {
        "MULTIPART_PART_SIZE": 1024,
        "MULTIPART_THRESHOLD": 1,
        "MULTIPART_CONCURRENCY": 4,
        "MAX_PENDING_BYTES": 1024 * MiB,
    }
    content = pdf_of(30 * 1024 - 10, seed=3)
    page = admin_page
    puts: dict[str, int] = {}
    signs: list[int] = []
    expired: list[str] = []

    def flaky(route: Any) -> None:
        request = route.request
        if request.method == "POST" and "/multipart/sign/" in request.url:
            signs.append(len(request.post_data_json["partNumbers"]))
        if request.method != "PUT":
            route.continue_()
            return
        puts[request.url] = puts.get(request.url, 0) + 1
        first = next(iter(puts))
        if request.url == first and puts[first] <= 2:  # the first part answers 503 twice, then arrives
            route.fulfill(status=503, content_type="application/json", body='{"code": "x", "message": "busy"}')
        elif len(puts) == 20 and not expired:  # the twentieth part's signature has expired
            expired.append(request.url)
            route.fulfill(status=403, content_type="application/json", body='{"code": "x", "message": "Expired."}')
        else:
            route.continue_()

    page.route("**/*", flaky)
    page.goto(add_url(page, FsBig))
    box = widget(page, "file")
    box.locator(".async-file-input__picker").set_input_files(
        {"name": "many.pdf", "mimeType": "application/pdf", "buffer": content}
    )
    wait_idle(page, box)
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded many.pdf."
    assert sorted(signs) == [1, 6, 8, 8, 8], signs  # 3 x 8 + 6 as the parts go, 1 for the expired part
    assert signs[0] == 8 and signs.index(1) > 1
    # 30 parts, the 503 part twice more, the expired part once more (newly signed).
    assert expired and sum(puts.values()) == 33 and puts[first_url(puts)] == 3
    save_and_check(page, FsBig, content)

    # A 4xx is the storage's refusal: not sent again (a 403 only once more, with a new signature), and
    # the upload stops with the message shown.
    FsBig.objects.all().delete()
    refused: list[str] = []

    def forbidden(route: Any) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(
            status=403, content_type="application/json", body='{"code": "x", "message": "Signature expired."}'
        )

    page.unroute("**/*")
    page.route("**/*", forbidden)
    settings.ASYNC_UPLOADS = {**settings.ASYNC_UPLOADS, "MULTIPART_CONCURRENCY": 1}
    page.goto(add_url(page, FsBig))
    box = widget(page, "file")
    box.locator(".async-file-input__picker").set_input_files(
        {"name": "refused.pdf", "mimeType": "application/pdf", "buffer": content}
    )
    wait_idle(page, box)
    assert box.locator(".async-file-input__error").inner_text() == "Signature expired."
    assert len(refused) == 2
    assert "error" in box.locator("input[type=hidden]").input_value()
    page.click("input[name=_save]")
    page.wait_for_selector(".errornote")
    assert not FsBig.objects.exists()


@pytest.mark.parametrize("again", ["another file", "the same file"])
def test_a_new_pick_before_the_start_answers_aborts_the_session_the_late_answer_opened(
    admin_page, in_parts, big_file, again
):
    in_parts()
    path, content = big_file
    page = admin_page
    held: list[Any] = []
    page.route("**/multipart/start/", lambda route: route.continue_() if held else held.append(route))
    page.goto(add_url(page, FsBig))
    box = widget(page, "file")
    box.locator(".async-file-input__picker").set_input_files(str(path))
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held
    if again == "the same file":  # no session to take up yet: the new pick starts its own
        name, picked = "big.pdf", content
        box.locator(".async-file-input__picker").set_input_files(str(path))
    else:  # under the threshold: a single upload
        name, picked = "small.pdf", b"%PDF-1.4\n" + b"s" * 1000 + b"\n%%EOF\n"
        box.locator(".async-file-input__picker").set_input_files(
            {"name": name, "mimeType": "application/pdf", "buffer": picked}
        )
    with page.expect_response(lambda r: "/multipart/abort/" in r.url, timeout=5_000) as aborted:
        held[0].continue_()  # the server opens the session only now, after the pick that drops it
    assert aborted.value.status == 200
    session = UploadSession.objects.order_by("pk").first()
    assert session is not None and session.state == UploadSession.State.ABORTED
    assert not os.path.exists(fs_storage.parts_directory(session.upload_id)), "no part files left"
    wait_idle(page, box)
    assert box.locator(".async-file-input__status").inner_text() == f"Uploaded {name}."
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('async-uploads:'))") == []
    save_and_check(page, FsBig, picked)


def test_a_new_pick_waits_for_the_abort_so_the_old_session_does_not_count_against_the_quota(
    admin_page, in_parts, big_file, tmp_path
):
    in_parts(concurrency=1, pending=16 * MiB)  # room for one 11 MiB session, not two
    path, _ = big_file
    other = pdf_of(SIZE, seed=8)
    (tmp_path / "other.pdf").write_bytes(other)
    page = admin_page
    held_parts: list[Any] = []
    held_abort: list[Any] = []
    page.route("**/upload-part-direct/**", lambda route: held_parts.append(route))  # the first parts never arrive
    page.route("**/multipart/abort/", lambda route: held_abort.append(route))
    page.goto(add_url(page, FsBig))
    box = widget(page, "file")
    box.locator(".async-file-input__picker").set_input_files(str(path))
    for _ in range(200):
        if held_parts:
            break
        page.wait_for_timeout(50)
    assert held_parts
    box.locator(".async-file-input__picker").set_input_files(str(tmp_path / "other.pdf"))
    for _ in range(100):
        if held_abort:
            break
        page.wait_for_timeout(50)
    assert held_abort
    page.unroute("**/upload-part-direct/**")
    page.wait_for_timeout(300)  # a start sent now would still find the old session open
    held_abort[0].continue_()
    wait_idle(page, box)
    assert box.locator(".async-file-input__error").is_hidden(), box.locator(".async-file-input__error").inner_text()
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded other.pdf."
    states = sorted(UploadSession.objects.values_list("state", flat=True))
    assert states == [UploadSession.State.ABORTED, UploadSession.State.COMPLETED]
    save_and_check(page, FsBig, other)


def small_parts(settings: Any) -> None:
    settings.ASYNC_UPLOADS = {
        "MULTIPART_PART_SIZE": 1024,
        "MULTIPART_THRESHOLD": 1,
        "MULTIPART_CONCURRENCY": 4,
        "MAX_PENDING_BYTES": 1024 * MiB,
    }


def test_complete_is_sent_again_after_a_network_error_and_the_completed_answer_counts(admin_page, settings):
    """The first complete reaches the server, which completes the object, but its answer is lost."""
    small_parts(settings)
    content = pdf_of(3 * 1024, seed=5)
    page = admin_page
    answers: list[int] = []

    def lose_the_first_answer(route: Any) -> None:
        answer = route.fetch()
        answers.append(answer.status)
        if len(answers) == 1:
            route.abort()  # to the browser a network error, after the server completed the object
        else:
            route.fulfill(response=answer)

    page.route("**/multipart/complete/", lose_the_first_answer)
    page.goto(add_url(page, FsBig))
    box = widget(page, "file")
    box.locator(".async-file-input__picker").set_input_files(
        {"name": "lost.pdf", "mimeType": "application/pdf", "buffer": content}
    )
    wait_idle(page, box)
    assert box.locator(".async-file-input__error").is_hidden(), box.locator(".async-file-input__error").inner_text()
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded lost.pdf."
    assert answers == [200, 409]  # the second complete: this session is already completed
    assert UploadSession.objects.get().state == UploadSession.State.COMPLETED
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('async-uploads:'))") == []
    save_and_check(page, FsBig, content)


def test_remembered_sessions_carry_their_expiry_and_expired_ones_are_dropped(admin_page, settings):
    small_parts(settings)
    content = pdf_of(3 * 1024, seed=6)
    page = admin_page
    prefix = "async-uploads:multipart:"
    entry = {"key": "async-temp-files/gone.pdf", "uploadId": "gone", "partSize": 1024, "partCount": 3}
    page.goto(add_url(page, FsBig))
    page.evaluate(
        """([prefix, entry]) => {
            const put = (id, extra) => localStorage.setItem(prefix + id, JSON.stringify({...entry, ...extra}));
            put("expired", {expiresAt: "2000-01-01T00:00:00+00:00"});
            put("of-an-older-script", {});
            put("open", {expiresAt: "2999-01-01T00:00:00+00:00"});
            localStorage.setItem("another-app", "kept");
        }""",
        [prefix, entry],
    )
    page.reload()  # the script drops what has expired as it loads
    stored = "() => Object.keys(localStorage).filter(k => k.startsWith('async-uploads:')).sort()"
    assert page.evaluate(stored) == [prefix + "open"]
    assert page.evaluate("() => localStorage.getItem('another-app')") == "kept"
    # An expired entry for the very file picked (planted as the pick starts) is not taken up either.
    page.evaluate(
        """([entry]) => document.addEventListener("async-uploads:start", (event) => {
            const id = window.asyncUploadsWidget.fingerprint(event.target, event.detail.file);
            localStorage.setItem(id, JSON.stringify({...entry, expiresAt: "2000-01-01T00:00:00+00:00"}));
        })""",
        [entry],
    )
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/multipart/parts/" in r.url else None)
    held: list[Any] = []
    holding = [True]
    page.route("**/upload-part-direct/**", lambda route: held.append(route) if holding else route.continue_())
    box = widget(page, "file")
    box.locator(".async-file-input__picker").set_input_files(
        {"name": "fresh.pdf", "mimeType": "application/pdf", "buffer": content}
    )
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held and asked == []
    session = UploadSession.objects.get()
    remembered = page.evaluate(
        "(prefix) => Object.keys(localStorage).filter(k => k.startsWith(prefix) && !k.endsWith(':open'))"
        ".map(k => JSON.parse(localStorage.getItem(k)))",
        prefix,
    )
    assert [(r["key"], r["expiresAt"]) for r in remembered] == [(session.key, session.expires_at.isoformat())]
    holding.clear()
    for route in held:
        route.continue_()
    wait_idle(page, box)
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded fresh.pdf."
    assert page.evaluate(stored) == [prefix + "open"]
    save_and_check(page, FsBig, content)
