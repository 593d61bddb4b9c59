"""The local AWS emulator: moto server + our fixes (tests/emulator/server.py) on 127.0.0.1 and a free port.

`running_emulator(home)` starts it, configures it (ASL interpreter on) and yields an :class:`Emulator` whose `env`
points Terraform, cdktf and boto3 at it; the server stops when the block ends, also on an error or Ctrl-C. The tests
(conftest.py) and `make demo` (tests/emulator/demo.py) share it.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.support.terraform import terraform_env

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "111111111111"  # the dev account of cdktf.json: the provider's allowed_account_ids must accept it
REGION = "us-east-1"


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    env: dict[str, str]  # environment for terraform, cdktf and boto3 pointed at the emulator

    def client(self, service: str, env: dict[str, str] | None = None):
        """A boto3 client on the emulator with the credentials of ``env`` (default: the emulator's own)."""
        credentials = env or self.env
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        )

    def set_training_metrics(self, metrics: dict[str, float] | None) -> dict[str, float]:
        """Metrics every later (emulated) SageMaker training job reports in FinalMetricDataList (server.py fix 14).

        ``None`` restores the default, ``{"validation:auc": 0.9}``. The emulator is shared by the session: a test
        that sets metrics restores them when it is done.
        """
        url = f"{self.endpoint}/_emulator/training-metrics"
        return _request_json(url, "DELETE") if metrics is None else _request_json(url, "POST", metrics)


def _request_json(url: str, method: str, document: dict | None = None) -> dict:
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(  # noqa: S310 -- always http://127.0.0.1:<port>, the emulator
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- as above
        return json.loads(response.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited early with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"emulator did not listen on 127.0.0.1:{port} within {timeout} s")


@contextmanager
def running_emulator(home: Path) -> Iterator[Emulator]:
    """The emulator, with its log in ``home/server.log`` and its AWS config files in ``home``."""
    port = _free_port()
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator.server", "--port", str(port), "--default-account", ACCOUNT_ID],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "MOTO_ACCOUNT_ID"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_listening(port, process)
        endpoint = f"http://127.0.0.1:{port}"
        # Executions run on moto's ASL interpreter (server.py fix 11); set before any state machine is created.
        _request_json(f"{endpoint}/moto-api/config", "POST", {"stepfunctions": {"execute_state_machine": True}})
        env = terraform_env(
            home,
            {
                # Provider, S3 backend, cdktf and boto3 all honour AWS_ENDPOINT_URL: no synth-time change.
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "emulator",
                "AWS_SECRET_ACCESS_KEY": "emulator",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                # An API the emulator lacks must fail the plan fast instead of retrying for minutes.
                "AWS_MAX_ATTEMPTS": "2",
                # Never reach for instance metadata (169.254.169.254) or the user's profiles.
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(home / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
                "CI": "true",
            },
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.pop(name, None)
        yield Emulator(endpoint=endpoint, env=env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
