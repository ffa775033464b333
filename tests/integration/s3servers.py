"""Real S3-compatible servers for the tests: moto's server mode and `rclone serve s3`."""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

ACCESS_KEY = "AKIATESTSEGMENTS"
SECRET_KEY = "test-secret-key-segments"


ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)")


def read_stderr(proc: subprocess.Popen[str], found: queue.Queue[int]) -> None:
    """Put the port the server logs on stderr in ``found``, then read on to the end (a
    chatty server never blocks on a full pipe) and close the pipe."""
    assert proc.stderr is not None
    with proc.stderr:
        for line in proc.stderr:
            match = ADDRESS.search(line)
            if match and found.empty():
                found.put(int(match[1]))


def listening_port(
    proc: subprocess.Popen[str], found: queue.Queue[int], timeout: float = 30
) -> int:
    """The port the server chose itself: it binds port 0 and says which (a port picked
    for it beforehand could be taken by a parallel worker meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"S3 server exited with {proc.returncode}")
        try:
            return found.get(timeout=0.05)
        except queue.Empty:
            pass
    raise RuntimeError("S3 server did not say where it listens")


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"S3 server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("S3 server did not start listening")


@dataclass
class S3Server:
    kind: str
    endpoint: str
    _client: Any = field(default=None, init=False, repr=False)

    def env(self, **extra: str | None) -> dict[str, str | None]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            **extra,
        }

    def client(self) -> Any:
        """One client for the server's life: the tests poll it (open uploads, sent parts)
        every 20 ms while a run goes on, and a new client each poll cost 7 ms of CPU."""
        if self._client is None:
            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                region_name="us-east-1",
            )
        return self._client

    def open_uploads(self, bucket: str, key: str) -> list[str]:
        try:
            reply = self.client().list_multipart_uploads(Bucket=bucket, Prefix=key)
        except ClientError as exc:
            # rclone answers NoSuchUpload when a bucket has no open upload at all
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return []
            raise
        return [u["UploadId"] for u in reply.get("Uploads", []) if u["Key"] == key]

    def sent_parts(self, bucket: str, key: str) -> int:
        """Parts stored in the open uploads of ``key``. A part is sent only after the
        upload's id came back, so a run that has sent one knows what to abort (an upload
        merely open may still be on its way back to the client)."""
        client = self.client()
        return sum(
            len(client.list_parts(Bucket=bucket, Key=key, UploadId=upload).get("Parts", []))
            for upload in self.open_uploads(bucket, key)
        )


def reset_moto(server: S3Server) -> None:
    """Empty a moto server: every bucket, object and multipart upload goes (moto's
    ``POST /moto-api/reset``), and check it did: a test never sees another's objects."""
    request = urllib.request.Request(f"{server.endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        reply.read()
    left = server.client().list_buckets().get("Buckets", [])
    if left:
        raise RuntimeError(f"moto kept buckets after its reset: {left}")


@contextmanager
def run_server(kind: str, workdir: Path) -> Iterator[S3Server]:
    if kind == "moto":
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"]
    else:
        rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or "rclone"
        data = workdir / "rclone-data"
        data.mkdir()
        cmd = [
            rclone,
            "serve",
            "s3",
            "--config",
            "/dev/null",
            "--addr",
            "127.0.0.1:0",
            "--auth-key",
            f"{ACCESS_KEY},{SECRET_KEY}",
            str(data),
        ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: queue.Queue[int] = queue.Queue()
    reader = threading.Thread(target=read_stderr, args=(proc, found), daemon=True)
    reader.start()
    try:
        port = listening_port(proc, found)
        wait_for_port(port, proc)
        yield S3Server(kind, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
