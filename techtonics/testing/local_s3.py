"""A local S3 server (moto's server mode) for the storage tests and benchmark, on a free loopback port.

    with local_s3.Server() as s3:          # needs the `test` extra (moto[server], boto3)
        subprocess.run([...], env=s3.env)  # S3_ENDPOINT and test credentials for tensorflow-io
        s3.client.list_objects_v2(...)

A separate process: TensorFlow's C++ file systems never see moto's
in-process mock. The server is stopped when the block ends, failed or not.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """moto's S3 server with one bucket; `env` is os.environ plus what tensorflow-io needs to reach it.

    authenticate: the server checks credentials after creating the bucket,
    and `env`'s test credentials are then refused (moto accepts any otherwise).
    """

    def __init__(self, bucket: str = "techtonics", authenticate: bool = False):
        self.bucket, self.authenticate = bucket, authenticate
        self.port = free_port()
        self.env = dict(
            os.environ,
            S3_ENDPOINT=f"http://127.0.0.1:{self.port}",
            S3_USE_HTTPS="0",
            S3_VERIFY_SSL="0",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION="us-east-1",
        )
        self._process = None
        self.client = None

    def __enter__(self) -> Server:
        import boto3

        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        # moto enforces credentials after this many requests: the bucket's creation is the free one.
        server_env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="1") if self.authenticate else None
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_env
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"moto's S3 server did not start on port {self.port}") from None
                time.sleep(0.2)
        self.client = boto3.client(
            "s3",
            endpoint_url=self.env["S3_ENDPOINT"],
            region_name=self.env["AWS_REGION"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        self.client.create_bucket(Bucket=self.bucket)
        return self

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under prefix, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def text(self, key: str) -> str:
        """The object at key, decoded as UTF-8."""
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
