"""No secret of the stack at rest on the controller: every command that talks to the lab, then a
search of every byte under VEDRUN_HOME, the terminal and the lab's records for every written form
of the lab's secrets and of a secret planted in a vault (tests/secret_forms.py).

The lab's generated secrets (JWT secret, Stripe secret key and webhook secret, both database
passwords) are in the API's and PostgreSQL's environment, so every run that looks at those
containers meets them. Their place is the host's side: the lab's secrets/ folder (the lab's own
copy), the deploy env files (0600, the VPS's /srv/vedfinance/deploys) and the VPS's keys; those
are not searched. Runs before tests/test_lab.py (which ends by taking the lab down), on the
session's lab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from secret_forms import read_secrets, search, search_paths
from support import LAB, REPO, VENV_BIN

pytestmark = pytest.mark.lab

# Special characters on purpose: its URL, JSON, shell and base64 forms all differ from it.
VAULT_SECRET = "vault-PLANTED/+&=%'\"tok 9f2c41d7"


def test_no_secret_is_at_rest_after_every_command_against_the_lab(lab, tmp_path):
    home = tmp_path / "home"
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory" / "lab", inventory)
    password = tmp_path / "vault-pass.txt"
    password.write_text("test-only vault password\n")
    vault = inventory / "group_vars" / "all" / "vault.yml"
    vault.write_text("---\nvault_planted_secret: " + json.dumps(VAULT_SECRET) + "\n")
    subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password),
                    str(vault)], check=True, capture_output=True)
    env = {**lab, "VEDRUN_HOME": str(home), "VEDRUN_LAB_DIR": str(LAB)}
    terminal: dict[str, bytes] = {}

    def vedrun(*args: str, expect: tuple[int, ...] = (0,)) -> str:
        result = subprocess.run([str(VENV_BIN / "vedrun"), *args], cwd=REPO, env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=900, check=False)
        where = "terminal of vedrun " + " ".join(args)
        terminal[where] = result.stdout + result.stderr
        assert result.returncode in expect, (where, terminal[where].decode(errors="replace")[-3000:])
        return result.stdout.decode()

    secrets = read_secrets(LAB / "secrets")
    assert set(secrets) >= {"jwt_secret", "stripe_secret_key", "postgres_password", "canary_password"}, \
        sorted(secrets)
    secrets["vault"] = VAULT_SECRET

    vault_args = ("-i", str(inventory), "--vault-password-file", str(password))
    vedrun("lab", "status")
    vedrun("health", *vault_args)
    vedrun("health", *vault_args, "--json")
    vedrun("p0-service-down", *vault_args, "--yes")
    vedrun("p0-database-failure", *vault_args, "--yes", "--json")
    vedrun("p1-slow-queries", *vault_args, "--yes", "--json")
    vedrun("p0-memory-leak", *vault_args, "--yes", "--json")
    # logs in as the canary (its password and the JWT secret read from the lab's vault values)
    vedrun("p1-login-failure", *vault_args, "--yes", "--json")
    # checks the API's Stripe key and the vault's at Stripe (the stand-in), compares them by fingerprint
    vedrun("p1-payment-failure", *vault_args, "--yes", "--json")
    vedrun("backup", *vault_args, "--json")
    vedrun("backups", *vault_args)
    vedrun("restore", *vault_args, expect=(2,))  # asks, and no terminal answers
    vedrun("restore", *vault_args, "--yes", "--json")
    # a fault injected and fixed for each runbook (API and database containers handled, restarted)
    vedrun("drill", "p0-service-down", "--fault", "crash", "--json")
    vedrun("drill", "p0-database-failure", "--fault", "stopped", "--json")
    # its report holds query texts; its verify reads the report (a hand-off: the drill exits 0)
    vedrun("drill", "p1-slow-queries", "--fault", "n-plus-one", "--json")
    # a leaking release OOM-killed: a Node report and two heap snapshots of a process that holds
    # every secret of the API in memory, fetched into the incident (their values blanked)
    vedrun("drill", "p0-memory-leak", "--fault", "cache", "--json")
    # the JWT secret rotated in a deploy and restored from the vault: values travel to the VPS only
    vedrun("drill", "p1-login-failure", "--fault", "secret-wrong", "--json")
    # the webhook signing secret changed in a deploy and restored from the vault, missed events resent
    vedrun("drill", "p1-payment-failure", "--fault", "webhook-secret-wrong", "--json")
    # the drill leaves its users browsing (the next drill clears them): not these tests' load
    subprocess.run(["docker", "rm", "-f", "vedrun-lab-traffic"], capture_output=True, check=False)
    listed = json.loads(vedrun("incident", "list", "--json"))
    assert listed, "the runs above recorded no incident"
    for incident in listed:
        vedrun("incident", "show", incident["id"])
        vedrun("incident", "rca", incident["id"])
    vedrun("metrics")

    host_side = [LAB / "secrets", LAB / "vps", LAB / "ssh", *LAB.glob("deploys/*.env")]
    hits = search(secrets, terminal)
    hits += search_paths(secrets, [home, LAB], skip=host_side)
    assert hits == [], "\n".join(hits)
    # the search looked where the runs wrote: the store, INCIDENTS.md, each run's events
    assert (home / "INCIDENTS.md").is_file() and (home / "incidents.db").is_file()
    assert len(list(home.rglob("job_events"))) >= 5, sorted(str(p) for p in home.iterdir())
    assert os.stat(home).st_mode & 0o077 == 0
