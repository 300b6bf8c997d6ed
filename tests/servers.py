"""Real servers the tests talk to: an S3-speaking store (moto's standalone server, started here) and
the Redis that scripts/with-redis.sh started (`make test` runs the suite beside it)."""
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# Any pair works with moto; the app passes them to boto3 like real ones.
S3_KEY_ID, S3_SECRET = "registry-test-key", "registry-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto_server on 127.0.0.1 (one process, in-memory: a restart starts empty)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self._client = None

    def start(self, timeout: float = 30) -> "MotoServer":
        command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not answer in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def client(self):
        if self._client is None:
            import boto3
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=S3_KEY_ID,
                aws_secret_access_key=S3_SECRET)
        return self._client

    def settings(self, bucket: str, prefix: str = "evidence") -> dict:
        """The app settings that put evidence files in `bucket` of this server."""
        return {"EVIDENCE_STORE": f"s3://{bucket}/{prefix}", "S3_ENDPOINT_URL": self.url,
                "AWS_ACCESS_KEY_ID": S3_KEY_ID, "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_REGION": "us-east-1"}


class RedisServer:
    """The Redis of scripts/with-redis.sh: its URL, and stopping and starting it on the same port."""

    def __init__(self):
        self.url = os.environ["TEST_REDIS_URL"]

    def client(self):
        import redis
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)

    def stop(self) -> None:
        subprocess.run(shlex.split(os.environ["REDIS_TEST_STOP"]), capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.answers():
            time.sleep(0.05)

    def start(self) -> None:
        subprocess.run(shlex.split(os.environ["REDIS_TEST_START"]), check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.answers():
            time.sleep(0.05)
        assert self.answers(), "Redis did not come back"

    def pause(self) -> None:
        """The server stops answering but keeps its port and connections (a hung Redis)."""
        os.kill(int(Path(os.environ["REDIS_TEST_PID_FILE"]).read_text()), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(int(Path(os.environ["REDIS_TEST_PID_FILE"]).read_text()), signal.SIGCONT)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False


def redis_server() -> RedisServer:
    if not os.environ.get("TEST_REDIS_URL"):
        pytest.skip("needs a Redis server (scripts/with-redis.sh, as `make test` runs the suite)")
    return RedisServer()
