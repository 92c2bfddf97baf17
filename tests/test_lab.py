"""The drill lab for real: Docker engine, images built from Debian's archive, the stack on
loopback, the VPS reached over SSH with host key checking. Nothing here is mocked.

The tests run in file order: the last one takes the lab down.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from click.testing import CliRunner
from support import LAB, REPO, VENV_BIN

from vedrun.cli import cli

pytestmark = pytest.mark.lab
API = "http://127.0.0.1:3001"


def secret(name: str) -> str:
    """A lab secret as the stack uses it (roles/lab_stack/vars/main.yml adds the prefixes)."""
    prefix = {"stripe_secret_key": "sk_test_lab", "stripe_webhook_secret": "whsec_lab"}
    return prefix.get(name, "") + (LAB / "secrets" / name).read_text().strip()


def call(method: str, path: str, body: dict | None = None, headers: dict | None = None,
         raw: bytes | None = None) -> tuple[int, dict, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(API + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def test_lab_up_is_healthy(lab):
    result = subprocess.run([str(VENV_BIN / "vedrun"), "lab", "status"], cwd=REPO, env=lab,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    for name in ("vedfinance-api", "vedfinance-postgres", "vedfinance-redis", "vedrun-lab-stripe",
                 "vedrun-lab-vps"):
        assert name in result.stdout
    assert "FAIL" not in result.stdout


def test_second_lab_up_changes_nothing(lab):
    started = time.monotonic()
    result = subprocess.run([str(VENV_BIN / "vedrun"), "lab", "up"], cwd=REPO, env=lab,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lab is up (0 changes)" in result.stdout
    assert time.monotonic() - started < 120


def test_login_returns_a_jwt_that_verifies(lab):
    import jwt

    code, body, _ = call("POST", "/auth/login", {"email": "demo@vedfinance.test",
                                                   "password": "lab-only-demo-password"})
    assert code == 200, body
    claims = jwt.decode(body["token"], secret("jwt_secret"), algorithms=["HS256"])
    assert claims["email"] == "demo@vedfinance.test"
    me, who, _ = call("GET", "/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me == 200, who
    bad, _, _ = call("POST", "/auth/login", {"email": "demo@vedfinance.test", "password": "nope"})
    assert bad == 401


def test_cors_answers_allowed_origins_only(lab):
    _, _, allowed = call("OPTIONS", "/auth/login", headers={"Origin": "http://localhost:3000",
                                                            "Access-Control-Request-Method": "POST"})
    assert allowed.get("Access-Control-Allow-Origin") == "http://localhost:3000"
    _, _, refused = call("OPTIONS", "/auth/login", headers={"Origin": "http://evil.example",
                                                            "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in refused


def test_payment_goes_through_stripe_and_its_webhook_marks_it_paid(lab):
    code, body, _ = call("POST", "/payments", {"amount": 4900, "currency": "usd",
                                               "email": "demo@vedfinance.test"})
    assert code in (200, 201), body
    intent = body["intent_id"]
    assert intent.startswith("pi_")
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        _, record, _ = call("GET", f"/payments/{intent}")
        status = record.get("status")
        if status == "paid":
            break
        time.sleep(0.5)
    assert status == "paid"


def _signed(payload: bytes, key: str) -> str:
    stamp = int(time.time())
    digest = hmac.new(key.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def test_webhook_with_a_bad_signature_is_refused(lab):
    payload = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "object": "event",
                          "type": "payment_intent.succeeded",
                          "data": {"object": {"id": f"pi_forged{uuid.uuid4().hex[:8]}",
                                              "object": "payment_intent", "amount": 100,
                                              "currency": "usd"}}}
                         ).encode()
    code, body, _ = call("POST", "/webhooks/stripe", raw=payload,
                         headers={"Stripe-Signature": _signed(payload, "whsec_not_the_secret")})
    assert code == 400 and "signature" in json.dumps(body)
    good, _, _ = call("POST", "/webhooks/stripe", raw=payload,
                      headers={"Stripe-Signature": _signed(payload, secret("stripe_webhook_secret"))})
    assert good == 200


def test_courses_answer_from_the_seeded_table(lab):
    code, body, _ = call("GET", "/courses?category=wealth-management")
    assert code == 200, body
    assert body["count"] == 10000 and len(body["courses"]) == 50
    assert all(course["category"] == "wealth-management" for course in body["courses"])


def test_leak_switch_ends_in_oomkilled(lab):
    image = json.loads((LAB / "lab.json").read_text())["images"]["api"]
    name = f"vedrun-test-leak-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(["docker", "run", "-d", "--name", name, "--network", "host",
                        "--memory", "96m", "--memory-swap", "96m",
                        "-e", "API_PORT=23901", "-e", "JWT_SECRET=lab-only-test",
                        "-e", "STRIPE_SECRET_KEY=sk_test_lab_only", "-e",
                        "STRIPE_WEBHOOK_SECRET=whsec_lab_only", "-e", "API_LEAK_MB_PER_SEC=40",
                        "-e", "DATA_DIR=/tmp", f"vedrun/lab-api:{image}"],
                       check=True, capture_output=True)
        deadline = time.monotonic() + 90
        state = {}
        while time.monotonic() < deadline:
            state = json.loads(subprocess.run(["docker", "inspect", "-f", "{{json .State}}", name],
                                              capture_output=True, text=True).stdout)
            if not state.get("Running"):
                break
            time.sleep(1)
        assert state.get("OOMKilled") is True, state
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_health_over_ssh_is_green(lab, monkeypatch):
    monkeypatch.setenv("VEDRUN_HOME", lab["VEDRUN_HOME"])
    monkeypatch.delenv("VEDRUN_PROJECT", raising=False)
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")  # vedrun finds its own ansible
    result = CliRunner().invoke(cli, ["--project", str(REPO), "health", "-i",
                                      str(REPO / "inventory" / "lab"), "--json"])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)["hosts"]["lab-vps"]
    assert {"api", "postgres", "redis"} <= set(checks)
    assert all(check["ok"] for check in checks.values()), checks


def test_unknown_host_key_stops_vedrun(lab, tmp_path, monkeypatch):
    """ansible-runner turns host key checking off by default; vedrun must not."""
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory" / "lab", inventory)
    (tmp_path / "empty_known_hosts").touch()
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "lab-vps.yml").write_text(
        f"---\nansible_ssh_common_args: -o UserKnownHostsFile={tmp_path / 'empty_known_hosts'}"
        " -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes\n"
        f"vedrun_lab_dir: {LAB}\n")
    monkeypatch.setenv("VEDRUN_HOME", lab["VEDRUN_HOME"])
    monkeypatch.delenv("ANSIBLE_HOST_KEY_CHECKING", raising=False)
    result = CliRunner().invoke(cli, ["--project", str(REPO), "health", "-i", str(inventory), "--json"])
    assert result.exit_code == 3, result.output
    message = json.loads(result.stdout)["unreachable"]["lab-vps"]
    assert "host key is known" in message and "strict checking" in message, message


def test_the_lab_data_volumes_are_named_for_its_folder(lab):
    """A database volume keeps the passwords of the lab that made it: a lab up from another
    checkout used to start on this lab's volume and wait minutes for an API that could not log in."""
    from ansible_collections.vedrun.kit.plugins.filter.lab import lab_volumes

    mine = lab_volumes(str(LAB))
    mounts = json.loads(subprocess.run(
        ["docker", "inspect", "--format", "{{json .Mounts}}", "vedfinance-postgres"],
        capture_output=True, text=True, check=True).stdout)
    assert mine["pgdata"] in {mount.get("Name") for mount in mounts}, mounts
    labels = json.loads(subprocess.run(
        ["docker", "volume", "inspect", "--format", "{{json .Labels}}", mine["pgdata"]],
        capture_output=True, text=True, check=True).stdout)
    assert labels["org.vedrun.lab.dir"] == str(LAB), labels


def test_a_lab_up_from_another_folder_comes_up_and_leaves_the_first_labs_data(lab, tmp_path):
    """A second lab (another checkout's folder) used to start on the first lab's database volume,
    with the first lab's passwords, and wait minutes for an API that could never log in. Now it
    comes up healthy on volumes of its own; its `lab down` leaves the first lab's volumes."""
    from ansible_collections.vedrun.kit.plugins.filter.lab import lab_volumes

    other_dir = tmp_path / "other-lab"
    env = {**lab, "VEDRUN_LAB_DIR": str(other_dir), "VEDRUN_HOME": str(tmp_path / "home")}
    try:
        up = subprocess.run([str(VENV_BIN / "vedrun"), "lab", "up"], cwd=REPO, env=env,
                            capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stdout + up.stderr
        code, body, _ = call("GET", "/courses?category=wealth-management")
        assert code == 200, body
    finally:
        down = subprocess.run([str(VENV_BIN / "vedrun"), "lab", "down"], cwd=REPO, env=env,
                              capture_output=True, text=True, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    volumes = subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert not set(lab_volumes(str(other_dir)).values()) & set(volumes), volumes
    assert set(lab_volumes(str(LAB)).values()) <= set(volumes), volumes  # the first lab's data


def test_lab_down_leaves_no_container(lab):
    """...and removes its own data volumes, never another lab's."""
    from ansible_collections.vedrun.kit.plugins.filter.lab import lab_volumes

    other = lab_volumes("/nonexistent/other-checkout/.lab")["pgdata"]
    subprocess.run(["docker", "volume", "create", "--label", "org.vedrun.lab=volume", other],
                   capture_output=True, check=True)
    mine = lab_volumes(str(LAB))
    try:
        result = subprocess.run([str(VENV_BIN / "vedrun"), "lab", "down"], cwd=REPO, env=lab,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        left = subprocess.run(["docker", "ps", "-a", "--filter", "label=org.vedrun.lab", "-q"],
                              capture_output=True, text=True).stdout.split()
        assert left == []
        assert not LAB.exists()
        volumes = subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True,
                                 check=True).stdout.split()
        assert not set(mine.values()) & set(volumes), volumes
        assert other in volumes
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", other], capture_output=True, check=False)
