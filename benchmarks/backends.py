#!/usr/bin/env python
"""Benchmark the S3 and Azure backends of django-async-uploads ("ours") against alliance-platform-storage ("ref").

Run from the repository root with the development venv (it has both packages, boto3, the Azure SDK
and moto's server)::

    .venv/bin/python benchmarks/backends.py [--quick] [--results benchmarks/RESULTS-backends.md]

Rows:

- issuing an upload URL and signing a download URL, per backend, in µs per URL (signing is local
  computation: no server is involved);
- bytes the app reads from S3 (moto's server on 127.0.0.1) to learn the dimensions of a 20 MB JPEG:
  ours verifies it (type and dimensions, ranged reads), ref computes the dimensions as Django's
  ImageField does (``get_image_dimensions`` on ``storage.open``);
- a move of a 64 MiB object on S3: bytes of the object that pass through the app, and time.

Ours and ref alternate call by call, in the same process and run; ratios are ref time ÷ ours time
(> 1: ours is faster) or ref bytes ÷ ours bytes.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MiB = 1024 * 1024
BUCKET = "bench"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURE_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


def configure_django() -> None:
    import django
    from django.conf import settings

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    settings.configure(
        SECRET_KEY="bench",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "async_uploads"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        ROOT_URLCONF=__name__,
        ALLIANCE_PLATFORM={"CORE": {"PROJECT_DIR": BENCH_DIR}, "STORAGE": {}},
    )
    django.setup()


urlpatterns: list[Any] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alternate(ours: Callable[[], Any], ref: Callable[[], Any], n: int, warmup: int) -> tuple[list[float], list[float]]:
    """Time ``n`` calls of each, alternating ours, ref, ref, ours, …; return the call times in seconds."""
    for _ in range(warmup):
        ours()
        ref()
    t_ours: list[float] = []
    t_ref: list[float] = []
    for i in range(n):
        pair = ((ours, t_ours), (ref, t_ref)) if i % 2 == 0 else ((ref, t_ref), (ours, t_ours))
        for fn, into in pair:
            start = time.perf_counter()
            fn()
            into.append(time.perf_counter() - start)
    return t_ours, t_ref


def us(seconds: list[float]) -> str:
    return f"{statistics.mean(seconds) * 1e6:.0f} (median {statistics.median(seconds) * 1e6:.0f})"


def signing_rows(n: int, warmup: int) -> list[list[str]]:
    from alliance_platform.storage.async_uploads.storage.azure import AzureAsyncUploadStorage as RefAzure
    from alliance_platform.storage.async_uploads.storage.s3 import S3AsyncUploadStorage as RefS3

    from async_uploads.storage.azure import AzureAsyncUploadStorage
    from async_uploads.storage.s3 import S3AsyncUploadStorage

    common_s3 = {"bucket_name": BUCKET, "region_name": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}
    ours_s3 = S3AsyncUploadStorage(**common_s3)
    ref_s3 = RefS3(**common_s3, signature_version="s3v4")
    common_az = {"azure_container": "bench", "connection_string": AZURE_CONNECTION}
    ours_az = AzureAsyncUploadStorage(**common_az)
    ref_az = RefAzure(**common_az)
    key = "async-temp-files/2026/01/01/abcdefghijkl-report.pdf"
    rows = []
    cases = [
        (
            "S3: issue upload URL (presigned POST)",
            lambda: ours_s3.generate_upload_url(
                key, "app.Model.file", content_type="application/pdf", size=123_456, max_size=100 * MiB
            ),
            # ref fails without conditions (it passes {} to boto3): give it the same ones ours signs.
            lambda: ref_s3.generate_upload_url(
                key,
                "app.Model.file",
                conditions=[["content-length-range", 123_456, 123_456], {"Content-Type": "application/pdf"}],
                fields={"Content-Type": "application/pdf"},
            ),
            "same policy conditions on both (key, exact length, type)",
        ),
        (
            "S3: sign download URL",
            lambda: ours_s3.generate_download_url("docs/report.pdf", "app.Model.file", expire=300),
            lambda: ref_s3.generate_download_url("docs/report.pdf", "app.Model.file", expire=300),
            "ours adds ResponseContentDisposition",
        ),
        (
            "Azure: issue upload URL (create-only SAS)",
            lambda: ours_az.generate_upload_url(key, "app.Model.file", content_type="application/pdf"),
            lambda: ref_az.generate_upload_url(key, "app.Model.file"),
            "both: blob-scoped SAS, create permission",
        ),
        (
            "Azure: sign download URL (read SAS)",
            lambda: ours_az.generate_download_url("docs/report.pdf", "app.Model.file", expire=300),
            lambda: ref_az.generate_download_url("docs/report.pdf", "app.Model.file", expire=300),
            "ours adds Content-Disposition to the SAS",
        ),
    ]
    for name, ours, ref, note in cases:
        t_ours, t_ref = alternate(ours, ref, n, warmup)
        ratio = statistics.mean(t_ref) / statistics.mean(t_ours)
        rows.append([name, us(t_ours), us(t_ref), f"{ratio:.2f}", note])
    return rows


class ByteCounter:
    """Count object bytes a boto3 client moves: GetObject responses in, PutObject/UploadPart bodies out."""

    def __init__(self, client: Any):
        self.read = 0
        self.written = 0
        self.calls: list[str] = []
        events = client.meta.events
        events.register("after-call.s3.GetObject", self._after_get)
        events.register("before-call.s3.*", self._before)

    def _after_get(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        self.read += int(parsed.get("ContentLength") or 0)

    def _before(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        self.calls.append(model.name)
        if model.name in ("PutObject", "UploadPart"):
            body = params.get("body") or params.get("Body")
            if isinstance(body, bytes | bytearray):
                self.written += len(body)
            elif hasattr(body, "seek") and hasattr(body, "tell"):
                pos = body.tell()
                body.seek(0, 2)
                self.written += body.tell() - pos
                body.seek(pos)

    def reset(self) -> None:
        self.read = self.written = 0
        self.calls = []


def big_jpeg() -> bytes:
    from PIL import Image

    w, h = 4000, 3000
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: a phone photo
    exif[0x010E] = "d" * 16_000  # metadata before the frame header
    img = Image.frombytes("RGB", (w, h), os.urandom(w * h * 3))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=99, exif=exif.tobytes())
    return buf.getvalue()


def s3_rows(repeats: int, move_mib: int) -> list[list[str]]:
    from alliance_platform.storage.async_uploads.storage.s3 import S3AsyncUploadStorage as RefS3
    from django.core.files.images import get_image_dimensions
    from moto.server import ThreadedMotoServer

    from async_uploads.models import AsyncImageField
    from async_uploads.storage.s3 import S3AsyncUploadStorage

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        opts = {"bucket_name": BUCKET, "region_name": "us-east-1", "endpoint_url": url}
        ours = S3AsyncUploadStorage(**opts)
        ref = RefS3(**opts)
        ours.client.create_bucket(Bucket=BUCKET)
        c_ours, c_ref = ByteCounter(ours.client), ByteCounter(ref.bucket.meta.client)
        rows = []

        data = big_jpeg()
        ours.client.put_object(Bucket=BUCKET, Key="async-temp-files/big.jpg", Body=data, ContentType="image/jpeg")
        field = AsyncImageField(storage=ours, file_restrictions=["image/*"], max_size=100)
        read_ours: list[int] = []
        read_ref: list[int] = []
        t_ours: list[float] = []
        t_ref: list[float] = []
        for _ in range(repeats):
            c_ours.reset()
            start = time.perf_counter()
            verified = ours.verify_upload("async-temp-files/big.jpg", field=field, name="big.jpg")
            t_ours.append(time.perf_counter() - start)
            read_ours.append(c_ours.read)
            assert (verified.width, verified.height) == (4000, 3000), verified
            c_ref.reset()
            start = time.perf_counter()
            with ref.open("async-temp-files/big.jpg") as fh:
                dims = get_image_dimensions(fh)
            t_ref.append(time.perf_counter() - start)
            read_ref.append(c_ref.read)
            assert dims == (4000, 3000), dims
        rows.append(
            [
                f"S3: bytes read to learn the dimensions of a {len(data) / 1e6:.1f} MB JPEG",
                f"{max(read_ours):,} B ({max(read_ours) / 1024:.1f} KiB), {statistics.median(t_ours) * 1e3:.1f} ms",
                f"{max(read_ref):,} B, {statistics.median(t_ref) * 1e3:.1f} ms",
                f"{max(read_ref) / max(read_ours):.0f}x fewer bytes; "
                f"{statistics.median(t_ref) / statistics.median(t_ours):.1f}x faster",
                "ours also sniffs the type; bound 64 KiB",
            ]
        )

        body = os.urandom(move_mib * MiB)
        t_ours, t_ref = [], []
        moved_ours = moved_ref = 0
        for i in range(repeats):
            for who, storage, counter, times in (("ours", ours, c_ours, t_ours), ("ref", ref, c_ref, t_ref)):
                src = f"async-temp-files/{who}-{i}.bin"
                ours.client.put_object(Bucket=BUCKET, Key=src, Body=body)
                counter.reset()
                start = time.perf_counter()
                storage.move_file(src, f"moved/{who}-{i}.bin")
                times.append(time.perf_counter() - start)
                through = counter.read + counter.written
                if who == "ours":
                    moved_ours = max(moved_ours, through)
                else:
                    moved_ref = max(moved_ref, through)
                assert not ours.exists(src) and ours.size(f"moved/{who}-{i}.bin") == len(body)
        rows.append(
            [
                f"S3: move a {move_mib} MiB object (object bytes through the app; time)",
                f"{moved_ours} B; {statistics.median(t_ours) * 1e3:.0f} ms",
                f"{moved_ref} B; {statistics.median(t_ref) * 1e3:.0f} ms",
                f"{statistics.median(t_ref) / statistics.median(t_ours):.2f}",
                "ours: CopyObject (+ HEADs, never overwrites); ref: managed multipart copy",
            ]
        )
        return rows
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and a smaller move")
    parser.add_argument("--results", default=str(BENCH_DIR / "RESULTS-backends.md"))
    args = parser.parse_args()
    configure_django()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    n, warmup, repeats, move_mib = (300, 30, 2, 16) if args.quick else (3000, 200, 5, 64)
    header = ["benchmark", "ours", "ref", "ref/ours", "note"]
    rows = signing_rows(n, warmup)
    rows += s3_rows(repeats, move_mib)
    import alliance_platform.storage
    import boto3
    import django

    lines = [
        "# Cloud backend benchmarks: django-async-uploads vs alliance-platform-storage",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Django {django.get_version()}, "
        f"boto3 {boto3.__version__}, alliance-platform-storage "
        f"{getattr(alliance_platform.storage, '__version__', '0.0.5')}.",
        f"Command: `.venv/bin/python benchmarks/backends.py{' --quick' if args.quick else ''}` "
        f"({n} calls each for the µs rows, alternating ours and ref; {repeats} repeats for the S3 rows).",
        "",
        "µs rows: mean (median) µs per URL; ref/ours > 1 means ours is faster. S3 rows run against "
        "moto's server on 127.0.0.1.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.results).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
