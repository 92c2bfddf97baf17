"""p1-payment-failure against the drill lab's real API, PostgreSQL, deploy history and Stripe
stand-in, as a user runs it: the installed `vedrun`, inventory/lab over real SSH. Faults are
injected here by hand (the drills' own scenarios run in `make drills`). Runs before
tests/test_lab.py (which ends by taking the lab down); every test leaves the lab's endpoint
enabled and the API on the vault's key.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from support import LAB, REPO, VENV_BIN, assert_untouched_and_silent

pytestmark = pytest.mark.lab
RUNBOOK = "p1-payment-failure"
STRIPE = "http://127.0.0.1:12111"
API = "http://127.0.0.1:3001"
ENDPOINT = "we_vedrunlab"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def vedrun(lab: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "vedrun"), RUNBOOK, "-i", "inventory/lab", "--yes", *args],
        cwd=REPO,
        env=lab,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def call(method: str, url: str, form: dict | None = None, json_body: dict | None = None, key: bool = False):
    headers, data = {}, None
    if key:
        # the lab's key: its prefix, then the random part the lab keeps (roles/lab_stack/vars/main.yml)
        headers["Authorization"] = (
            "Bearer sk_test_lab" + (LAB / "secrets/stripe_secret_key").read_text().strip()
        )
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with OPENER.open(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def endpoint_status() -> str:
    return call("GET", f"{STRIPE}/v1/webhook_endpoints/{ENDPOINT}", key=True)[1]["status"]


def row(intent: str):
    status, body = call("GET", f"{API}/payments/{intent}")
    return body if status == 200 else None


@pytest.fixture
def pay_lab(lab):
    assert (
        call("POST", f"{STRIPE}/v1/webhook_endpoints/{ENDPOINT}", form={"disabled": "false"}, key=True)[0]
        == 200
    )
    yield lab
    call("POST", f"{STRIPE}/v1/webhook_endpoints/{ENDPOINT}", form={"disabled": "false"}, key=True)


def test_a_healthy_lab_is_left_untouched_and_no_secret_is_in_what_the_run_says(pay_lab):
    run = vedrun(pay_lab, "--json")
    assert_untouched_and_silent(run)


def test_a_disabled_endpoint_is_asked_about_checked_then_re_enabled_and_the_missed_payment_recorded(pay_lab):
    assert (
        call("POST", f"{STRIPE}/v1/webhook_endpoints/{ENDPOINT}", form={"disabled": "true"}, key=True)[0]
        == 200
    )
    status, paid = call(
        "POST", f"{STRIPE}/_standin/payment_intents", json_body={"amount": 4100, "currency": "usd"}
    )
    assert status == 201
    intent = paid["payment_intent"]["id"]
    assert row(intent) is None, "the fault is not in place: the payment was recorded"

    check = vedrun(pay_lab, "--check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    said = (Path(json.loads(check.stdout)["artifacts_dir"]) / "stdout").read_text()
    assert "webhook endpoint disabled" in said and "would ask: Re-enable the Stripe webhook endpoint" in said
    assert endpoint_status() == "disabled", "--check changed the endpoint"

    # without a terminal, --yes does not answer the question: the run stops and says how to go ahead
    asked = vedrun(pay_lab)
    assert asked.returncode == 7, asked.stdout + asked.stderr
    assert "AWAITING CONFIRMATION" in asked.stdout and endpoint_status() == "disabled"
    go_ahead = re.search(
        r"To go ahead: vedrun p1-payment-failure --incident (INC-\d{8}-\d{3})"
        r".*?((?: -e \S+)+)\s*$",
        asked.stdout,
        re.MULTILINE,
    )
    assert go_ahead, asked.stdout
    answers = shlex.split(go_ahead.group(2))
    assert answers == ["-e", f"payment_failure_enable_endpoint_confirmed={ENDPOINT}"], answers

    fixed = vedrun(pay_lab, "--json", "--incident", go_ahead.group(1), *answers)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    report = json.loads(fixed.stdout)
    assert report["outcome"] == "recovered", report
    assert "webhook endpoint disabled" in report["run"]["faults"]["lab-vps"]
    assert endpoint_status() == "enabled" and (row(intent) or {}).get("status") == "paid"
    evidence = Path(report["evidence_dir"]) / "lab-vps"
    resent = json.loads((evidence / "resent.json").read_text())
    assert resent["enabled"] and paid["event"]["id"] in [r["id"] for r in resent["resent"]]

    again = vedrun(pay_lab, "--json")
    assert json.loads(again.stdout)["outcome"] == "no fault found", again.stdout


def test_a_key_is_never_rolled_when_the_vaults_is_rejected_too(pay_lab, tmp_path):
    """The API on an expired key and the vault's key rejected as well: handed off, nothing changed;
    with the vault's real key the same command restores it."""
    status, added = call("POST", f"{STRIPE}/_standin/api_keys", json_body={"type": "secret"})
    assert status == 201
    call("POST", f"{STRIPE}/_standin/api_keys/{added['id']}/expire", json_body={})
    inject = env_deploy(pay_lab, {"STRIPE_SECRET_KEY": added["secret"]}, tmp_path)
    assert inject.returncode == 0, inject.stdout[-3000:]
    before = api_container_id()

    handed = vedrun(pay_lab, "--json", "-e", "vault_stripe_secret_key=sk_test_notAValidKeyAtAll000000")
    assert handed.returncode == 8, handed.stdout + handed.stderr
    report = json.loads(handed.stdout)
    assert report["outcome"] == "handed off", report
    detail = json.dumps(report)
    assert "roll it in Stripe's Dashboard" in detail and "vedrun never rolls a key" in detail
    assert api_container_id() == before, "the API was changed although nothing could be restored"
    assert added["secret"] not in handed.stdout + handed.stderr

    fixed = vedrun(pay_lab, "--json")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert json.loads(fixed.stdout)["outcome"] == "recovered"
    assert call("POST", f"{API}/payments", json_body={"amount": 100, "currency": "usd"})[0] == 201


def api_container_id() -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", "vedfinance-api"], capture_output=True, text=True, check=True
    ).stdout.strip()


def env_deploy(lab: dict, env_set: dict, folder: Path) -> subprocess.CompletedProcess:
    """A deploy of the API with these variables changed, as molecule/shared/tasks/api-env-deploy.yml
    makes it (over SSH to the lab VPS)."""
    play = [
        {
            "name": "a deploy with its environment changed",
            "hosts": "lab",
            "gather_facts": False,
            "roles": ["stack"],
            "tasks": [
                {
                    "name": "deploy",
                    "ansible.builtin.import_tasks": str(REPO / "molecule/shared/tasks/api-env-deploy.yml"),
                    "vars": {"api_env_set": env_set, "api_env_what": "test"},
                }
            ],
        }
    ]
    book = folder / "env-deploy.yml"
    book.write_text(json.dumps(play))
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "inventory/lab", str(book)],
        cwd=REPO,
        env={**lab, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
