"""Real S3 and Azure Blob servers on 127.0.0.1 for the cloud backend tests (a pytest plugin).

moto's server runs in-process (``ThreadedMotoServer``); Azurite (``tests/node``, pinned in
``package-lock.json``, installed by ``npm ci``) runs as a child process. Both are started once per
test session (per xdist worker) on free ports, and the storages of ``tests.cloudapp`` are pointed
at them. Where Node.js or Azurite is missing, the Azure tests skip loudly; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
AZURITE_BIN = NODE_DIR / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
S3_BUCKET = "async-uploads-test"
AZURE_CONTAINER = "async-uploads-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


class S3Server:
    def __init__(self, url: str):
        self.url = url


class AzuriteServer:
    def __init__(self, port: int, connection_string: str):
        self.port = port
        self.connection_string = connection_string
        self.url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"


def point_s3_storage(storage: Any, endpoint_url: str) -> None:
    """Aim an ``S3AsyncUploadStorage`` at ``endpoint_url``, dropping its cached connections."""
    import threading

    storage.endpoint_url = endpoint_url
    storage._connections = threading.local()
    storage._unsigned_connections = threading.local()
    storage._bucket = None
    storage.online = True


def point_azure_storage(storage: Any, connection_string: str) -> None:
    """Aim an ``AzureAsyncUploadStorage`` at an Azurite connection string, dropping cached clients."""
    storage.connection_string = connection_string
    storage.account_name = AZURITE_ACCOUNT
    storage.account_key = AZURITE_KEY
    storage._service_client = None
    storage._client = None
    storage.online = True


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on a free port, create the test bucket, and aim the test storages at it."""
    from moto.server import ThreadedMotoServer

    from tests.cloudapp.models import s3_storages

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # 0: the OS picks a free port
    server.start()
    port = server.get_host_and_port()[1]
    url = f"http://127.0.0.1:{port}"
    if not _wait_for_port(port, 10):
        pytest.fail(f"moto's S3 server did not start on 127.0.0.1:{port}")
    for storage in s3_storages:
        point_s3_storage(storage, url)
    s3_storages[0].client.create_bucket(Bucket=S3_BUCKET)
    yield S3Server(url)
    server.stop()


def _azurite_missing_reason() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed, so Azurite cannot run (apt-get install nodejs npm, then npm ci in tests/node)"
    if not AZURITE_BIN.exists():
        return f"Azurite is not installed: run `npm ci` in {NODE_DIR} (make install does it when npm is present)"
    return None


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """Start Azurite's blob service on a free port, create the test container, aim the test storages at it."""
    reason = _azurite_missing_reason()
    if reason is not None:
        message = f"!!! AZURE TESTS NOT RUN: {reason}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires them)")
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    from tests.cloudapp.models import azure_storages

    location = tmp_path_factory.mktemp("azurite")
    # A port picked free can be taken before Azurite binds it (other xdist workers start servers
    # too): start again on another one.
    for _attempt in range(3):
        port = free_port()
        log = open(location / "azurite.log", "wb")
        proc = subprocess.Popen(
            [
                str(AZURITE_BIN),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                str(location),
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if _wait_for_port(port, 60, proc):
            time.sleep(0.3)  # a port another server answered on: Azurite exits with EADDRINUSE
            if proc.poll() is None:
                break
        proc.kill()
        proc.wait()
        log.close()
    else:
        pytest.fail(f"Azurite did not start on 127.0.0.1: {(location / 'azurite.log').read_text()[-2000:]}")
    try:
        connection_string = azurite_connection_string(port)
        for storage in azure_storages:
            point_azure_storage(storage, connection_string)
        azure_storages[0].service_client.create_container(AZURE_CONTAINER)
        yield AzuriteServer(port, connection_string)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
