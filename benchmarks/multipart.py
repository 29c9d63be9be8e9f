"""Uploads in parts: a large file through the multipart REST views on each backend, over real HTTP.

The Django app (the test project, ``tests.settings``) runs as ``manage.py runserver --noreload``
in its own process, so its RSS can be read from /proc; moto's S3 server and Azurite run as their
own processes too. The client (``requests``) reads the file from disk one part at a time.

    .venv/bin/python benchmarks/multipart.py [--size-mib 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
# The test project's apps and helpers (tests.settings, tests.servers), run from any directory.
sys.path.insert(0, str(ROOT))
PY = sys.executable
MiB = 1024 * 1024
CSRF = "a" * 32


def rss(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            k, v = line.split(":")
            out[k] = int(v.split()[0]) * 1024
    return out


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing on port {port}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Servers:
    def __init__(self, work: Path, part_size: int):
        self.work = work
        self.procs: list[subprocess.Popen] = []
        self.s3_port = free_port()
        self.az_port = free_port()
        self.s3_log = work / "moto.log"
        self.az_log = work / "azurite.log"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        self.moto = self._start(
            [str(Path(PY).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)], self.s3_log, env
        )
        wait_port(self.s3_port, self.moto)
        azurite = ROOT / "tests" / "node" / "node_modules" / ".bin" / "azurite-blob"
        (work / "azurite").mkdir()
        self.azurite = self._start(
            [
                str(azurite),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.az_port),
                "--location",
                str(work / "azurite"),
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ],
            self.az_log,
            env,
        )
        wait_port(self.az_port, self.azurite)
        from tests.servers import azurite_connection_string

        self.env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "ASYNC_UPLOADS_TEST_DB_NAME": str(work / "db.sqlite3"),
            "ASYNC_UPLOADS_TEST_MEDIA": str(work / "media"),
            "ASYNC_UPLOADS_TEST_SETTINGS": json.dumps(
                {"MULTIPART_PART_SIZE": part_size, "MAX_PENDING_BYTES": 1024 * 1024 * MiB}
            ),
            "ASYNC_UPLOADS_TEST_S3_URL": f"http://127.0.0.1:{self.s3_port}",
            "ASYNC_UPLOADS_TEST_AZURE": azurite_connection_string(self.az_port),
        }
        os.environ.update(self.env)

    def _start(self, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(args, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc

    def django(self) -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = self._start(
            [PY, "-m", "django", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            self.work / "django.log",
            self.env,
        )
        wait_port(port, proc)
        return proc, f"http://127.0.0.1:{port}"

    def storage_requests(self) -> int:
        """Requests moto and Azurite have answered so far (their access logs)."""
        return sum(log.read_text(errors="replace").count(' HTTP/1.1" ') for log in (self.s3_log, self.az_log))

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def setup_django(servers: Servers) -> str:
    """Create the schema, the buckets and a superuser's session; return the session id."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from tests.cloudapp.models import azure_storage, s3_storage

    call_command("migrate", run_syncdb=True, verbosity=0)
    s3_storage.client.create_bucket(Bucket="async-uploads-test")
    azure_storage.service_client.create_container("async-uploads-test")
    user = User.objects.create_superuser("bench", "bench@example.com", "x")
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Uploader:
    def __init__(self, base: str, session_id: str, model: str):
        from tests.cloudapp.models import cloud_registry

        self.base = base
        self.http = requests.Session()
        self.http.cookies.set("sessionid", session_id)
        self.http.cookies.set("csrftoken", CSRF)
        self.http.headers["X-CSRFToken"] = CSRF
        from django.apps import apps

        field = apps.get_model("cloudapp", model)._meta.get_field("file")
        self.field_id = cloud_registry.generate_id(field)
        self.django_requests = 0

    def post(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        self.django_requests += 1
        r = self.http.post(f"{self.base}/cloud-uploads/multipart/{op}/", json=data, timeout=600)
        assert r.status_code == 200, (op, r.status_code, r.text[:500])
        return r.json()

    def upload(self, path: Path, size: int, concurrency: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        s = self.post(
            "start", {"fieldId": self.field_id, "filename": "big.pdf", "size": size, "contentType": "application/pdf"}
        )
        ref = {"key": s["key"], "uploadId": s["uploadId"]}
        count, part_size = s["partCount"], s["partSize"]
        targets: list[dict[str, Any]] = []
        for first in range(1, count + 1, 100):
            numbers = list(range(first, min(first + 100, count + 1)))
            targets += self.post("sign", {**ref, "partNumbers": numbers})["parts"]

        def send(part: dict[str, Any]) -> None:
            n = part["partNumber"]
            with open(path, "rb") as fh:  # one part in memory at a time per worker, read from disk
                fh.seek((n - 1) * part_size)
                body = fh.read(part_size)
            headers = {h["name"]: h["value"] for h in part["headers"]}
            if part["url"].startswith(self.base):
                self.django_requests += 1
                response = self.http.request(part["method"], part["url"], data=body, headers=headers, timeout=600)
            else:
                response = requests.request(part["method"], part["url"], data=body, headers=headers, timeout=600)
            assert response.status_code in (200, 201), (n, response.status_code, response.text[:300])

        sending = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(send, targets))
        #: The time of the parts alone: what the number in flight changes. Completion is the
        #: storage's assembly of the object (moto's takes seconds per GiB, in Python).
        self.parts_s = time.perf_counter() - sending
        self.post("complete", ref)
        return time.perf_counter() - t0, count


def make_file(path: Path, size: int) -> None:
    head = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        fh.write(head)
        left = size - len(head)
        while left > 0:
            fh.write(block[: min(MiB, left)])
            left -= MiB
    assert path.stat().st_size == size


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


BACKENDS = {"filesystem": "FsHuge", "s3": "S3Huge", "azure": "AzureHuge"}


def sign_cost(base: str, session_id: str, calls: int, part_size: int) -> dict[str, dict[str, float]]:
    """ms per sign call of 100 parts: in-process (test Client) and over HTTP (the runserver process)."""
    from django.contrib.auth.models import User
    from django.test import Client

    out: dict[str, dict[str, float]] = {}
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    for name, model in BACKENDS.items():
        up = Uploader(base, session_id, model)
        s = up.post(
            "start",
            {"fieldId": up.field_id, "filename": "s.pdf", "size": 100 * part_size, "contentType": "application/pdf"},
        )
        body = json.dumps({"key": s["key"], "uploadId": s["uploadId"], "partNumbers": list(range(1, 101))})
        in_proc, http = [], []
        for i in range(calls + 5):
            t = time.perf_counter()
            r = client.post("/cloud-uploads/multipart/sign/", data=body, content_type="application/json")
            a = time.perf_counter() - t
            assert r.status_code == 200 and len(r.json()["parts"]) == 100, r.content[:300]
            t = time.perf_counter()
            r2 = up.http.post(
                f"{base}/cloud-uploads/multipart/sign/",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            b = time.perf_counter() - t
            assert r2.status_code == 200 and len(r2.json()["parts"]) == 100, r2.text[:300]
            if i >= 5:
                in_proc.append(a * 1000)
                http.append(b * 1000)
        up.post("abort", {"key": s["key"], "uploadId": s["uploadId"]})
        out[name] = {
            "in_process": statistics.median(in_proc),
            "http": statistics.median(http),
            "in_process_p90": sorted(in_proc)[int(len(in_proc) * 0.9)],
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--part-mib", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sign-calls", type=int, default=50)
    p.add_argument("--only", default="upload,parallel,sign")
    p.add_argument("--json", help="write the figures here as JSON")
    args = p.parse_args()
    only = set(args.only.split(","))
    size = args.size_mib * MiB
    work = Path(tempfile.mkdtemp(prefix="bench-multipart-", dir="/var/tmp"))
    (work / "media").mkdir()
    servers = Servers(work, args.part_mib * MiB)
    results: dict[str, Any] = {"size": size, "part_size": args.part_mib * MiB, "load_before": load()}
    try:
        session_id = setup_django(servers)
        path = work / "big.pdf"
        make_file(path, size)
        if "upload" in only:
            rows: dict[str, list[dict[str, float]]] = {}
            for rep in range(args.repeat):
                for name, model in BACKENDS.items():
                    proc, base = servers.django()
                    up = Uploader(base, session_id, model)
                    up.post(
                        "start",
                        {"fieldId": up.field_id, "filename": "w.pdf", "size": 1, "contentType": "application/pdf"},
                    )  # warm-up
                    up.django_requests = 0
                    Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
                    before = rss(proc.pid)
                    storage_before = servers.storage_requests()
                    wall, parts = up.upload(path, size, 4)
                    time.sleep(0.5)
                    storage = servers.storage_requests() - storage_before
                    after = rss(proc.pid)
                    proc.terminate()
                    proc.wait(10)
                    row = {
                        "wall_s": wall,
                        "parts": parts,
                        "rss_before_mib": before["VmRSS"] / MiB,
                        "rss_after_mib": after["VmRSS"] / MiB,
                        "hwm_growth_mib": (after["VmHWM"] - before["VmRSS"]) / MiB,
                        "django_per_part": up.django_requests / parts,
                        "storage_per_part": storage / parts,
                    }
                    rows.setdefault(name, []).append(row)
                    print(rep, name, json.dumps(row), file=sys.stderr)
            results["upload"] = rows
        if "parallel" in only:
            times: dict[int, list[float]] = {1: [], 4: []}
            parts_times: dict[int, list[float]] = {1: [], 4: []}
            proc, base = servers.django()
            for rep in range(args.repeat):
                for conc in (1, 4) if rep % 2 == 0 else (4, 1):
                    up = Uploader(base, session_id, "S3Huge")
                    wall, parts = up.upload(path, size, conc)
                    times[conc].append(wall)
                    parts_times[conc].append(up.parts_s)
                    print(rep, "s3 concurrency", conc, round(wall, 2), "parts", round(up.parts_s, 2), file=sys.stderr)
            proc.terminate()
            proc.wait(10)
            results["parallel"] = times
            results["parallel_parts"] = parts_times
        if "sign" in only:
            proc, base = servers.django()
            results["sign"] = sign_cost(base, session_id, args.sign_calls, args.part_mib * MiB)
            proc.terminate()
            proc.wait(10)
    finally:
        servers.stop()
        results["load_after"] = load()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
