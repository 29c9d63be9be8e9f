"""Type sniffing, image headers, missing extras and the cloud storages' deconstruction."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

from async_uploads.image_headers import MAX_IMAGE_HEADER_BYTES, read_image_header
from async_uploads.sniffing import sniff


def image_bytes(fmt: str, size: tuple[int, int] = (5, 3), **save: object) -> bytes:
    buf = io.BytesIO()
    mode = "RGBA" if fmt in ("PNG", "WEBP") else "RGB"
    Image.new(mode, size, (1, 2, 3)).save(buf, format=fmt, **save)
    return buf.getvalue()


SNIFFED = [
    (image_bytes("PNG"), "image/png"),
    (image_bytes("JPEG"), "image/jpeg"),
    (image_bytes("GIF"), "image/gif"),
    (image_bytes("WEBP"), "image/webp"),
    (image_bytes("BMP"), "image/bmp"),
    (b"%PDF-1.7\n", "application/pdf"),
    (b"PK\x03\x04rest-of-a-docx", "application/zip"),
    (b"MZ\x90\x00", "application/x-msdownload"),
    (b"  <!DOCTYPE html><html>", "text/html"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    (b'<?xml version="1.0"?><note/>', "application/xml"),
    (b"name,age\nada,36\n", "text/plain"),
    ("caf\xe9 cr\xe8me".encode("cp1252"), "text/plain"),
    (b"", "text/plain"),
    (b"\x00\x01\x02\x03\x04", None),
]


@pytest.mark.parametrize(("head", "mime"), SNIFFED)
def test_sniff(head, mime):
    assert sniff(head).mime == mime


def _no_more(start: int, length: int) -> bytes:
    raise AssertionError("the first bytes are enough")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_image_header_dimensions(fmt):
    data = image_bytes(fmt, (321, 123))
    header = read_image_header(data[:4096], lambda s, n: data[s : s + n])
    assert header is not None and (header.width, header.height) == (321, 123)


@pytest.mark.parametrize("lossless", [True, False])
def test_webp_variants(lossless):
    data = image_bytes("WEBP", (70, 40), lossless=lossless)
    header = read_image_header(data[:4096], _no_more)
    assert header is not None and (header.width, header.height) == (70, 40)


def _jpeg(size: tuple[int, int], orientation: int = 1, padding: int = 0) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = "p" * padding
    return image_bytes("JPEG", size, exif=exif.tobytes())


def test_jpeg_with_large_metadata_is_read_in_a_few_bounded_ranges():
    data = _jpeg((640, 480), padding=50_000) + b"\x00" * 5_000_000
    reads: list[tuple[int, int]] = []

    def read(start: int, length: int) -> bytes:
        reads.append((start, length))
        return data[start : start + length]

    header = read_image_header(data[:4096], read)
    assert header is not None and (header.width, header.height) == (640, 480)
    assert 4096 + sum(n for _, n in reads) <= MAX_IMAGE_HEADER_BYTES
    assert len(reads) <= 3


def test_jpeg_frame_far_in_is_reached_by_skipping_segments_within_the_budget():
    plain = image_bytes("JPEG", (10, 10))
    filler = b"\xff\xef" + (65535).to_bytes(2, "big") + b"f" * 65533  # an APP15 segment of 64 KiB
    data = plain[:2] + filler + filler + plain[2:]
    total: list[int] = []

    def read(start: int, length: int) -> bytes:
        total.append(length)
        return data[start : start + length]

    header = read_image_header(data[:4096], read)
    assert header is not None and (header.width, header.height) == (10, 10)
    assert 4096 + sum(total) <= MAX_IMAGE_HEADER_BYTES
    assert len(total) == 2  # one ranged read per skipped segment, not the 128 KiB in between


def test_jpeg_with_too_many_segments_gives_up_within_the_budget():
    plain = image_bytes("JPEG", (10, 10))
    filler = b"\xff\xef" + (20_000).to_bytes(2, "big") + b"f" * 19_998
    data = plain[:2] + filler * 20 + plain[2:]
    total: list[int] = []

    def read(start: int, length: int) -> bytes:
        total.append(length)
        return data[start : start + length]

    assert read_image_header(data[:4096], read) is None
    assert 4096 + sum(total) <= MAX_IMAGE_HEADER_BYTES


@pytest.mark.parametrize(("orientation", "rotated"), [(1, False), (3, False), (6, True), (8, True)])
def test_jpeg_exif_orientation(orientation, rotated):
    data = _jpeg((40, 20), orientation=orientation)
    header = read_image_header(data[:4096], lambda s, n: data[s : s + n])
    assert header is not None and header.rotated is rotated and (header.width, header.height) == (40, 20)


@pytest.mark.parametrize(
    "head", [b"\x89PNG\r\n\x1a\n\x00\x00", b"GIF89a", b"\xff\xd8\xff\xd9", b"RIFF\x00\x00\x00\x00WEBPVP8X"]
)
def test_truncated_or_bogus_headers_give_none(head):
    assert read_image_header(head, lambda s, n: b"") is None


# --------------------------------------------------------------------------- extras and deconstruction

BLOCKED = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
import django
from django.conf import settings
settings.configure()
from django.core.exceptions import ImproperlyConfigured
from async_uploads.exceptions import AsyncUploadsImproperlyInstalled
try:
    import async_uploads.storage.{module}
except AsyncUploadsImproperlyInstalled as e:
    assert isinstance(e, ImproperlyConfigured) and isinstance(e, ImportError)
    print(e)
else:
    raise SystemExit("imported without its extra")
"""


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("s3", ["boto3", "botocore", "botocore.exceptions"], "s3"),
        ("s3", ["storages", "storages.backends", "storages.backends.s3"], "s3"),
        ("azure", ["azure.storage.blob", "azure.core", "azure.core.exceptions"], "azure"),
        ("azure", ["storages", "storages.backends", "storages.backends.azure_storage"], "azure"),
    ],
)
def test_backend_without_its_extra_names_the_pip_command(module, blocked, extra):
    code = BLOCKED.format(blocked=blocked, module=module)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f'pip install "django-async-uploads[{extra}]"' in result.stdout


def test_s3_storage_deconstructs_to_its_public_path_and_kwargs():
    from async_uploads.storage.s3 import S3AsyncUploadStorage

    storage = S3AsyncUploadStorage(bucket_name="media", location="uploads")
    assert storage.deconstruct() == (
        "async_uploads.storage.s3.S3AsyncUploadStorage",
        (),
        {"bucket_name": "media", "location": "uploads"},
    )


def test_azure_storage_deconstructs_to_its_public_path_and_kwargs():
    from async_uploads.storage.azure import AzureAsyncUploadStorage

    storage = AzureAsyncUploadStorage(azure_container="media", account_name="acct")
    assert storage.deconstruct() == (
        "async_uploads.storage.azure.AzureAsyncUploadStorage",
        (),
        {"azure_container": "media", "account_name": "acct"},
    )


def test_s3_settings_are_read_when_the_storage_is_made(settings):
    from async_uploads.storage.s3 import S3AsyncUploadStorage

    settings.AWS_STORAGE_BUCKET_NAME = "from-settings"
    assert S3AsyncUploadStorage().bucket_name == "from-settings"
    assert S3AsyncUploadStorage().signature_version == "s3v4"
    settings.AWS_S3_SIGNATURE_VERSION = "s3"
    assert S3AsyncUploadStorage().signature_version == "s3"


@pytest.mark.parametrize("fmt", ["TIFF"])
def test_other_formats_fall_back_to_pillow_on_the_bounded_prefix(fmt):
    from async_uploads.image_headers import read_image_header_with_pillow

    data = image_bytes(fmt, (48, 32))
    assert read_image_header(data[:4096], lambda s, n: data[s : s + n]) is None
    header = read_image_header_with_pillow(data[:MAX_IMAGE_HEADER_BYTES])
    assert header is not None and (header.width, header.height) == (48, 32)
    assert read_image_header_with_pillow(b"II*\x00garbage") is None
