"""The form widget in a real browser: the Django admin of a model with both field types.

Headless Chromium (tests/browser.py) opens the admin served by pytest-django's live server, picks
files with the widget, which uploads them to the filesystem storage's upload view, and saves.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from async_uploads.models import AsyncTempFile
from tests.conftest import png_bytes
from tests.testapp.models import Profile, ProfileAttachment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4\n% resume\n" + b"x" * 2048 + b"\n%%EOF\n"


def file_payload(name: str, content: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": content}


@pytest.fixture
def admin_page(page: Any, live_server: Any) -> Any:
    """The page, signed in to the admin as a superuser (session cookie from Django's test client)."""
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.base_url = live_server.url
    return page


def widget(page: Any, field: str) -> Any:
    return page.locator(f"[data-async-file-input]:has(input[name='{field}'])")


def pick(page: Any, field: str, name: str, content: bytes, mime: str) -> Any:
    """Pick a file in the widget of ``field`` and wait until the widget has finished with it."""
    box = widget(page, field)
    box.locator(".async-file-input__picker").set_input_files(file_payload(name, content, mime))
    page.wait_for_function("el => !el.hasAttribute('data-busy')", arg=box.element_handle(), timeout=15_000, polling=50)
    return box


def uploaded(page: Any, field: str, name: str, content: bytes, mime: str) -> Any:
    box = pick(page, field, name, content, mime)
    assert box.locator(".async-file-input__error").is_hidden(), box.locator(".async-file-input__error").inner_text()
    assert box.locator(".async-file-input__status").inner_text() == f"Uploaded {name}."
    progress = box.locator(".async-file-input__progress")
    assert progress.is_visible()
    assert progress.evaluate("el => el.value === el.max && el.max > 0")
    return box


def saved_bytes(field_file: Any) -> bytes:
    with field_file.open("rb") as f:
        return f.read()


def test_admin_add_form_uploads_a_file_and_an_image(admin_page):
    page = admin_page
    page.goto(page.base_url + "/admin/testapp/profile/add/")
    page.fill("#id_name", "Ada")
    uploaded(page, "resume", "resume.pdf", PDF, "application/pdf")
    image = png_bytes(7, 5)
    avatar = uploaded(page, "avatar", "ada.png", image, "image/png")
    # The widget read the image's size in the browser and submits it with the key.
    assert '"width":7' in avatar.locator("input[type=hidden]").input_value()
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/testapp/profile/")
    profile = Profile.objects.get()
    assert profile.name == "Ada"
    assert profile.resume.name.startswith("resumes/") and profile.resume.name.endswith(".pdf")
    assert saved_bytes(profile.resume) == PDF
    assert profile.avatar.name.startswith("avatars/")
    assert saved_bytes(profile.avatar) == image
    assert (profile.avatar_width, profile.avatar_height) == (7, 5)
    assert not AsyncTempFile.objects.filter(moved_to_location="").exists()
    assert page.console_errors == []


def test_admin_change_form_replaces_the_file_of_an_existing_record(admin_page, uploader):
    page = admin_page
    profile = Profile.objects.create(name="Bob")
    page.goto(page.base_url + f"/admin/testapp/profile/{profile.pk}/change/")
    box = widget(page, "resume")
    assert box.get_attribute("data-instance-id") == str(profile.pk)
    assert box.locator(".async-file-input__current").inner_text() == "No file"
    uploaded(page, "resume", "first.pdf", PDF, "application/pdf")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    profile.refresh_from_db()
    first = profile.resume.name
    assert first.startswith("resumes/") and saved_bytes(profile.resume) == PDF
    # The change page shows the current file with its download link; replace it.
    link = widget(page, "resume").locator(".async-file-input__current a")
    assert link.inner_text() == os.path.basename(first)
    assert page.request.get(page.base_url + link.get_attribute("href")).body() == PDF
    second = PDF.replace(b"resume", b"second")
    uploaded(page, "resume", "second.pdf", second, "application/pdf")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    profile.refresh_from_db()
    assert profile.resume.name != first and saved_bytes(profile.resume) == second
    # Remove clears the file.
    widget(page, "resume").locator(".async-file-input__clear").click()
    assert widget(page, "resume").locator(".async-file-input__current").inner_text() == "No file"
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    profile.refresh_from_db()
    assert profile.resume.name == ""


def test_an_upload_survives_a_validation_error_on_another_field(admin_page):
    page = admin_page
    page.goto(page.base_url + "/admin/testapp/profile/add/")
    uploaded(page, "resume", "keep-me.pdf", PDF, "application/pdf")
    page.click("input[name=_save]")  # the name is missing
    page.wait_for_selector(".errornote")
    assert Profile.objects.count() == 0
    # The re-rendered form still holds the uploaded file, and saving it needs no new upload.
    box = widget(page, "resume")
    assert box.locator(".async-file-input__current").inner_text() == "keep-me.pdf"
    assert "keep-me.pdf" in box.locator("input[type=hidden]").input_value()
    page.fill("#id_name", "Cy")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/testapp/profile/")
    profile = Profile.objects.get()
    assert profile.resume.name.startswith("resumes/") and saved_bytes(profile.resume) == PDF
    assert page.console_errors == []


def test_refused_files_show_the_error_and_save_nothing(admin_page):
    page = admin_page
    page.goto(page.base_url + "/admin/testapp/profile/add/")
    # Wrong extension: refused when the upload URL is requested; nothing is issued.
    box = pick(page, "resume", "tool.exe", b"MZ\x90\x00", "application/octet-stream")
    error = box.locator(".async-file-input__error")
    assert error.is_visible()
    assert ".exe" in error.inner_text() or "type" in error.inner_text().lower()
    assert box.locator("input[type=hidden]").input_value() == ""
    # Over the field's 1 MB: refused before any byte is sent.
    box = pick(page, "resume", "big.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 1), "application/pdf")
    assert box.locator(".async-file-input__error").is_visible()
    error_text = box.locator(".async-file-input__error").inner_text()
    assert "The file is 1.00001 MB; this field accepts at most 1 MB." in error_text, "in the units of the hint"
    assert box.locator("input[type=hidden]").input_value() == ""
    assert AsyncTempFile.objects.count() == 0
    # A .pdf name on bytes that are not a PDF is uploaded, then refused by the form: shown, not saved.
    pick(page, "resume", "fake.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")
    page.fill("#id_name", "Eve")
    page.click("input[name=_save]")
    page.wait_for_selector(".errornote")
    assert "resume" in page.locator(".form-row.field-resume").inner_text().lower()
    assert page.locator(".form-row.field-resume .errorlist").first.inner_text() != ""
    assert Profile.objects.count() == 0
    assert not AsyncTempFile.objects.exclude(moved_to_location="").exists()


def test_an_inline_row_added_in_the_browser_uploads_its_file(admin_page):
    page = admin_page
    profile = Profile.objects.create(name="Dee")
    page.goto(page.base_url + f"/admin/testapp/profile/{profile.pk}/change/")
    page.click(".add-row a")
    row_field = "attachments-0-file"
    uploaded(page, row_field, "notes.txt", b"inline notes\n", "text/plain")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    attachment = ProfileAttachment.objects.get(profile=profile)
    assert attachment.file.name.startswith("profile-attachments/")
    assert saved_bytes(attachment.file) == b"inline notes\n"
    assert page.console_errors == []


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_the_widget_uploads_straight_to_s3_and_azure(admin_page, live_server, backend, s3_server, azurite):
    """The same admin form on S3 (multipart POST to moto's server) and Azure (PUT to Azurite)."""
    from django.core.management import call_command

    from tests.cloudapp.models import AzureDoc, AzureImage, S3Doc, S3Image

    call_command("async_uploads_cors", "--origin", live_server.url, "--registry", "cloud", stdout=io.StringIO())
    doc_model, image_model = (S3Doc, S3Image) if backend == "s3" else (AzureDoc, AzureImage)
    page = admin_page
    page.goto(f"{page.base_url}/admin/cloudapp/{doc_model._meta.model_name}/add/")
    content = b"%PDF-1.4\n" + os.urandom(300_000) + b"\n%%EOF\n"
    uploaded(page, "file", "report.pdf", content, "application/pdf")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    doc = doc_model.objects.get()
    assert doc.file.name.startswith("docs/")
    assert saved_bytes(doc.file) == content
    image = png_bytes(9, 4)
    page.goto(f"{page.base_url}/admin/cloudapp/{image_model._meta.model_name}/add/")
    uploaded(page, "image", "pic.png", image, "image/png")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    photo = image_model.objects.get()
    assert saved_bytes(photo.image) == image
    assert (photo.width, photo.height) == (9, 4)
    assert not AsyncTempFile.objects.filter(moved_to_location="").exists()
    assert page.console_errors == []


def test_a_second_pick_cancels_the_running_upload(admin_page):
    """The first upload is held by the network; picking again aborts it, and only the second counts."""
    page = admin_page
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if not held:
            held.append(route)  # never answered: the browser is still sending it
        else:
            route.continue_()

    page.route("**/async-uploads/upload-file-direct/**", hold_first)
    page.goto(page.base_url + "/admin/testapp/profile/add/")
    box = widget(page, "resume")
    box.locator(".async-file-input__picker").set_input_files(file_payload("slow.pdf", PDF, "application/pdf"))
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the first upload never started"
    second = PDF.replace(b"resume", b"second")
    uploaded(page, "resume", "fast.pdf", second, "application/pdf")
    # Let the held request go on: an upload the page did not abort would now reach the storage.
    try:
        held[0].continue_()
    except Exception:  # Playwright refuses to continue a request the page aborted
        pass
    page.wait_for_timeout(500)
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded fast.pdf."
    assert box.locator(".async-file-input__progress").evaluate("el => el.value === el.max")
    assert "fast.pdf" in box.locator("input[type=hidden]").input_value()
    # The held request was aborted by the page: its key never received a file.
    slow = AsyncTempFile.objects.get(original_filename="slow.pdf")
    assert not Profile._meta.get_field("resume").storage.exists(slow.key)
    page.fill("#id_name", "Flo")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/testapp/profile/")
    assert saved_bytes(Profile.objects.get().resume) == second


def test_a_failed_upload_can_keep_the_current_file(admin_page):
    page = admin_page
    profile = Profile.objects.create(name="Gil", resume="resumes/old.pdf")
    page.route(
        "**/async-uploads/upload-file-direct/**",
        lambda route: route.fulfill(
            status=507, content_type="application/json", body='{"code": "x", "message": "The disk is full."}'
        ),
    )
    page.goto(page.base_url + f"/admin/testapp/profile/{profile.pk}/change/")
    box = pick(page, "resume", "new.pdf", PDF, "application/pdf")
    assert box.locator(".async-file-input__error").inner_text() == "The disk is full."
    keep = box.locator(".async-file-input__keep")
    assert keep.is_visible()
    # Saving now is refused: the chosen file never arrived. The page offers the current file again.
    page.click("input[name=_continue]")
    page.wait_for_selector(".errornote")
    assert "The upload failed: The disk is full." in page.locator(".form-row.field-resume").inner_text()
    profile.refresh_from_db()
    assert profile.resume.name == "resumes/old.pdf"
    assert widget(page, "resume").locator(".async-file-input__current").inner_text() == "old.pdf"
    # Fail again, then keep the current file: the form saves with it unchanged.
    box = pick(page, "resume", "new.pdf", PDF, "application/pdf")
    box.locator(".async-file-input__keep").click()
    assert box.locator(".async-file-input__error").is_hidden()
    assert box.locator(".async-file-input__current").inner_text() == "old.pdf"
    assert '"key": "resumes/old.pdf"' in box.locator("input[type=hidden]").input_value()
    page.fill("#id_name", "Gil 2")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    profile.refresh_from_db()
    assert (profile.name, profile.resume.name) == ("Gil 2", "resumes/old.pdf")


# --------------------------------------------------------------------------- what the user sees


def test_no_progress_bar_or_picker_text_shows_before_a_file_is_picked(admin_page):
    """Before any pick the admin shows no (empty) bar; the name of a file appears once, not twice."""
    page = admin_page
    profile = Profile.objects.create(name="Hal", resume="resumes/old.pdf")
    page.goto(page.base_url + f"/admin/testapp/profile/{profile.pk}/change/")
    box = widget(page, "resume")
    page.click(".add-row a")  # an inline row added in the browser: no bar either
    for field in ("resume", "avatar", "attachments-0-file"):
        for name in ("progress", "pause", "resume", "error", "keep"):
            assert widget(page, field).locator(f".async-file-input__{name}").is_hidden(), (field, name)
    # The browser's own file input (which repeats the chosen name) is out of sight; the button opens it.
    picker = box.locator(".async-file-input__picker").bounding_box()
    assert picker is not None and picker["width"] <= 1 and picker["height"] <= 1
    assert box.inner_text().count("old.pdf") == 1
    with page.expect_file_chooser() as chooser:
        box.locator(".async-file-input__choose").click()
    chooser.value.set_files(file_payload("new.pdf", PDF, "application/pdf"))
    page.wait_for_function("el => el.dataset.uploaded === 'true'", arg=box.element_handle(), timeout=15_000)
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded new.pdf."
    assert box.inner_text().count("new.pdf") == 2  # the current file and the status line
    assert box.locator(".async-file-input__picker").bounding_box()["width"] <= 1
    assert page.console_errors == []


def test_saving_during_an_upload_says_to_wait_beside_the_bar(admin_page):
    """The running upload is the widget's state: the refused save adds a note, the bar and status stay."""
    page = admin_page
    held: list[Any] = []
    page.route("**/async-uploads/upload-file-direct/**", lambda route: held.append(route))
    page.goto(page.base_url + "/admin/testapp/profile/add/")
    box = widget(page, "resume")
    box.locator(".async-file-input__picker").set_input_files(file_payload("held.pdf", PDF, "application/pdf"))
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held
    assert box.locator(".async-file-input__progress").is_visible()
    page.fill("#id_name", "Ida")
    page.click("input[name=_save]")  # refused by the page: the upload is still running
    error, status = box.locator(".async-file-input__error"), box.locator(".async-file-input__status")
    assert status.inner_text() == "Uploading held.pdf… Wait for the upload to finish before saving."
    assert error.is_hidden() and box.locator(".async-file-input__progress").is_visible()
    page.click("input[name=_save]")  # said once, however often
    assert status.inner_text() == "Uploading held.pdf… Wait for the upload to finish before saving."
    held[0].continue_()
    page.wait_for_function("el => !el.hasAttribute('data-busy')", arg=box.element_handle(), timeout=15_000)
    assert status.inner_text() == "Uploaded held.pdf."
    assert error.is_hidden()
    assert box.locator(".async-file-input__progress").evaluate("el => el.value === el.max")
    assert Profile.objects.count() == 0
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/testapp/profile/")
    assert saved_bytes(Profile.objects.get().resume) == PDF


def test_the_same_file_picked_again_after_a_failed_upload_uploads_again(admin_page, tmp_path):
    """A browser fires no change for a pick equal to the input's value: the widget empties it after each pick."""
    path = tmp_path / "again.pdf"
    path.write_bytes(PDF)
    page = admin_page
    page.route("**/async-uploads/upload-file-direct/**", lambda route: route.abort())
    page.goto(page.base_url + "/admin/testapp/profile/add/")
    box = widget(page, "resume")
    picker = box.locator(".async-file-input__picker")
    picker.set_input_files(str(path))
    page.wait_for_function("el => !el.hasAttribute('data-busy')", arg=box.element_handle(), timeout=15_000)
    assert "could not reach the storage" in box.locator(".async-file-input__error").inner_text()
    assert picker.input_value() == ""  # so choosing again.pdf once more is a change the widget hears
    page.unroute("**/async-uploads/upload-file-direct/**")
    picker.set_input_files(str(path))
    page.wait_for_function("el => el.dataset.uploaded === 'true'", arg=box.element_handle(), timeout=15_000)
    assert box.locator(".async-file-input__status").inner_text() == "Uploaded again.pdf."
    assert picker.input_value() == ""
    page.fill("#id_name", "Sam")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/testapp/profile/")
    assert saved_bytes(Profile.objects.get().resume) == PDF
