import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from async_uploads.inputs import AsyncFileInputData
from async_uploads.storage.memory import InMemoryAsyncUploadStorage
from tests.conftest import field_id
from tests.testapp.models import MemoryNote, memory_storage


def test_deconstructs_to_its_own_path():
    assert InMemoryAsyncUploadStorage().deconstruct() == (
        "async_uploads.storage.memory.InMemoryAsyncUploadStorage",
        (),
        {},
    )


@pytest.mark.django_db(transaction=True)
def test_the_whole_flow_in_memory(uploader, user):
    issued = uploader.issue(field_id(MemoryNote, "file"), "note.txt", content_type="text/plain")
    assert issued["uploadUrl"]["provider"] == "memory"
    assert issued["uploadUrl"]["url"] == f"memory://{issued['key']}"
    memory_storage.receive_upload(issued["key"], b"remember me")
    with pytest.raises(FileExistsError):
        memory_storage.receive_upload(issued["key"], b"again")

    request = RequestFactory().post("/")
    request.user = user
    note = MemoryNote()
    note.file = AsyncFileInputData.create_from_user_input({"key": issued["key"], "name": "note.txt"}, request=request)
    note.save()
    note.refresh_from_db()
    assert note.file.name == "memory-notes/note.txt"
    assert memory_storage.open(note.file.name).read() == b"remember me"
    assert not memory_storage.exists(issued["key"])
    assert (
        memory_storage.generate_download_url(note.file.name, "f", expire=5) == "memory://memory-notes/note.txt?expire=5"
    )


@pytest.mark.django_db
def test_verification_applies_in_memory_too(uploader, user):
    issued = uploader.issue(field_id(MemoryNote, "file"), "big.txt", content_type="text/plain")
    memory_storage.receive_upload(issued["key"], b"x" * (1024 * 1024 + 1))
    request = RequestFactory().post("/")
    request.user = user
    note = MemoryNote()
    with pytest.raises(ValidationError) as exc:
        note.file = AsyncFileInputData.create_from_user_input(
            {"key": issued["key"], "name": "big.txt"}, request=request
        )
    assert exc.value.error_dict["file"][0].code == "file_too_large"
    assert MemoryNote.objects.count() == 0


@pytest.mark.django_db
def test_nothing_uploaded_is_rejected(uploader, user):
    issued = uploader.issue(field_id(MemoryNote, "file"), "none.txt", content_type="text/plain")
    request = RequestFactory().post("/")
    request.user = user
    with pytest.raises(ValidationError) as exc:
        MemoryNote().file = AsyncFileInputData.create_from_user_input({"key": issued["key"]}, request=request)
    assert exc.value.error_dict["file"][0].code == "invalid_key"
