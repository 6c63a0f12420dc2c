"""The ``kefu`` command, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET, free_port

KEFU = shutil.which("kefu", path=str(Path(sys.executable).parent)) or "kefu"
LOGIN_LINE = re.compile(r"^\s+(admin|agent)\s+(\S+)\s+密码/password: (\S+)\s*$")


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any KEFU_ setting, plus a data dir and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(KEFU_DATA_DIR=str(data_dir), KEFU_FAST_HASHES="1", PYTHONUNBUFFERED="1", **extra)
    return env


def kefu(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [KEFU, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_serve_without_a_secret_key_exits_with_a_clear_error(tmp_path: Path) -> None:
    r = kefu("serve", "--port", str(free_port()), cwd=tmp_path, env=env_for(tmp_path / "data"))
    assert r.returncode == 2
    assert "KEFU_SECRET_KEY" in r.stderr and "kefu demo" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_short_secret_key_is_refused_too(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data", KEFU_SECRET_KEY="short")
    r = kefu("db", "upgrade", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "KEFU_SECRET_KEY" in r.stderr


def test_db_upgrade_merchant_create_and_operator_create(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data", KEFU_SECRET_KEY=SECRET)
    r = kefu("db", "upgrade", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "database is up to date" in r.stdout
    assert (tmp_path / "data" / "kefu.sqlite3").is_file()

    args = ("merchant", "create", "--name", "命令行商店", "--admin", "cli_admin", "--password", "long enough")
    r = kefu(*args, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert isinstance(created["merchant_id"], int) and created["widget_key"]
    assert created["name"] == "命令行商店" and created["admin_username"] == "cli_admin"
    # Running it again finds the database up to date and the login name taken.
    r = kefu(*args[:5], "CLI_ADMIN", *args[6:], cwd=tmp_path, env=env)
    assert r.returncode == 1 and "taken" in r.stderr and "Traceback" not in r.stderr

    r = kefu("operator", "create", "--username", "olga", "--password", "long enough", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["username"] == "olga"


def test_merchant_create_refuses_bad_input_before_touching_the_database(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data", KEFU_SECRET_KEY=SECRET)
    r = kefu("merchant", "create", "--name", "x", "--admin", "a b", "--password", "pw", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "admin_username" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "data" / "kefu.sqlite3").exists()


class Demo:
    """``kefu demo`` running in the background: its printed logins and its URL."""

    def __init__(self, data_dir: Path, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(  # noqa: S603 - our own console script
            [KEFU, "demo", "--port", str(self.port)],
            cwd=cwd,
            env=env_for(data_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.logins = self._read_logins()
        # Keep reading, so that the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_until_up()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def _read_logins(self) -> dict[str, tuple[str, str]]:
        assert self.process.stdout is not None
        logins: dict[str, tuple[str, str]] = {}
        for line in self.process.stdout:
            self.output.append(line)
            if match := LOGIN_LINE.match(line):
                logins[match.group(2)] = (match.group(1), match.group(3))
            elif logins and not line.strip():
                return logins
        raise AssertionError("kefu demo ended early:\n" + "".join(self.output))

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "kefu demo exited:\n" + "".join(self.output)
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("kefu demo did not answer /healthz within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "demo-data"


def test_demo_seeds_a_merchant_whose_admin_logs_in_with_the_printed_password(
    demo_dir: Path, tmp_path: Path
) -> None:
    demo = Demo(demo_dir, tmp_path)
    try:
        assert {name: role for name, (role, _) in demo.logins.items()} == {
            "admin": "admin",
            "alice": "agent",
            "bob": "agent",
            "carol": "agent",
        }
        assert any(demo.url in line for line in demo.output)
        with httpx.Client(base_url=demo.url) as c:
            r = c.post("/api/v1/auth/login", json={"username": "admin", "password": demo.logins["admin"][1]})
            assert r.status_code == 200, r.text
            assert r.json()["user"]["role"] == "admin"
            agents = c.get("/api/v1/agents").json()
            groups = c.get("/api/v1/groups").json()
            categories = c.get("/api/v1/summary-categories").json()
            for name, (_, password) in demo.logins.items():
                r = c.post("/api/v1/auth/login", json={"username": name, "password": password})
                assert r.status_code == 200, name
    finally:
        demo.stop()
    assert sorted(a["username"] for a in agents["items"]) == ["admin", "alice", "bob", "carol"]
    assert sorted(g["name"] for g in groups["items"]) == ["售前", "售后"]
    assert {g["name"]: len(g["agent_ids"]) for g in groups["items"]} == {"售前": 2, "售后": 2}
    assert "物流查询" in [c["name"] for c in categories["items"]]  # agents can file summaries at once

    # Run again on the same data dir: same merchant, same logins.
    again = Demo(demo_dir, tmp_path)
    try:
        assert again.logins == demo.logins
        with httpx.Client(base_url=again.url) as c:
            r = c.post("/api/v1/auth/login", json={"username": "admin", "password": demo.logins["admin"][1]})
            assert r.status_code == 200
            assert c.get("/api/v1/agents").json()["total"] == 4
    finally:
        again.stop()
