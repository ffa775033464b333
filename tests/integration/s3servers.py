"""Real S3-compatible servers for the tests: moto's server mode and `rclone serve s3`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

ACCESS_KEY = "AKIATESTSEGMENTS"
SECRET_KEY = "test-secret-key-segments"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
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
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def open_uploads(self, bucket: str, key: str) -> list[str]:
        try:
            reply = self.client().list_multipart_uploads(Bucket=bucket, Prefix=key)
        except ClientError as exc:
            # rclone answers NoSuchUpload when a bucket has no open upload at all
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return []
            raise
        return [u["UploadId"] for u in reply.get("Uploads", []) if u["Key"] == key]


@contextmanager
def run_server(kind: str, workdir: Path) -> Iterator[S3Server]:
    port = free_port()
    if kind == "moto":
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
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
            f"127.0.0.1:{port}",
            "--auth-key",
            f"{ACCESS_KEY},{SECRET_KEY}",
            str(data),
        ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield S3Server(kind, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
