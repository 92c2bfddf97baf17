"""Issue 10 (hardening), the scrubber: every vault password ansible would use, inline `!vault`
values, every encoded form of a secret, and nothing that is not a secret.

At e0d454e a run's scrubber was `Scrubber(secrets_from_vars(extra vars) |
secrets_from_vaults(vault_files(inventory), --vault-password-file))`: the password file was read
as text (a script's source, not its output), the environment was not consulted, only files
starting with `$ANSIBLE_VAULT` were vault files, the masked forms were the value and its
JSON-escaped form, and every int, float or string of 4+ characters was a secret.
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import yaml
from support import VENV_BIN, read_everything

from vedrun.engine import Engine
from vedrun.inventory import Where
from vedrun.scrub import MASK, Scrubber, scrubber_for

PASSWORD = "scrub-test vault password"


def _script(folder: Path, password: str = PASSWORD, name: str = "vault-pass.sh") -> Path:
    """A vault password script: ansible runs it and reads its stdout."""
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{password}'\n")
    script.chmod(0o700)
    return script


def _encrypt_file(path: Path, data: dict, password_file: Path) -> None:
    path.write_text(yaml.safe_dump(data))
    subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file",
                    str(password_file), str(path)], check=True, capture_output=True)


def _encrypt_string(value: str, name: str, password_file: Path) -> str:
    done = subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt_string", "--vault-password-file",
                           str(password_file), "--name", name, value],
                          check=True, capture_output=True, text=True)
    return done.stdout


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    folder = tmp_path / "inventory"
    (folder / "group_vars" / "all").mkdir(parents=True)
    (folder / "hosts.yml").write_text("all:\n  hosts:\n    web-1:\n")
    return folder


@pytest.fixture(autouse=True)
def _no_password_env(monkeypatch):
    for name in ("VEDRUN_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_PASSWORD_FILE",
                 "ANSIBLE_VAULT_IDENTITY_LIST"):
        monkeypatch.delenv(name, raising=False)


def test_a_password_from_ansible_vault_password_file_is_honoured(inventory, tmp_path, monkeypatch):
    """Vault password given through ANSIBLE_VAULT_PASSWORD_FILE (e0d454e: no password file on
    the command line, so nothing was decrypted and nothing scrubbed)."""
    password = tmp_path / "pass.txt"
    password.write_text(PASSWORD + "\n")
    secret = f"env-vault-{uuid.uuid4().hex}"
    _encrypt_file(inventory / "group_vars" / "all" / "vault.yml", {"vault_api": secret}, password)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    scrubber = scrubber_for({}, inventory, None)
    assert scrubber.text(f"key={secret}") == f"key={MASK}"
    assert scrubber.text(PASSWORD) == MASK  # the vault password itself


def test_a_vault_password_script_is_run_and_its_output_scrubbed(inventory, tmp_path, monkeypatch):
    """A vault password *script* (an executable password file), given with
    --vault-password-file or VEDRUN_VAULT_PASSWORD_FILE: ansible runs it, so must the scrubber
    (e0d454e read the script's source as the password: decryption failed, nothing scrubbed)."""
    script = _script(tmp_path)
    secret = f"script-vault-{uuid.uuid4().hex}"
    _encrypt_file(inventory / "group_vars" / "all" / "vault.yml", {"vault_db": secret}, script)
    for given in ("option", "env"):
        if given == "env":
            monkeypatch.setenv("VEDRUN_VAULT_PASSWORD_FILE", str(script))
        scrubber = scrubber_for({}, inventory, script if given == "option" else None)
        assert scrubber.text(f"db={secret};pw={PASSWORD}") == f"db={MASK};pw={MASK}", given


def test_inline_vault_values_of_plain_vars_files_are_secrets(inventory, tmp_path):
    """Inline `key: !vault | $ANSIBLE_VAULT;1.1;AES256 ...` values inside an otherwise plain
    group_vars file (e0d454e only looked at files that start with $ANSIBLE_VAULT)."""
    password = tmp_path / "pass.txt"
    password.write_text(PASSWORD)
    secret = f"inline-{uuid.uuid4().hex}"
    text = ("---\napi_port: 3001\napi_name: vedfinance-api\n"
            + _encrypt_string(secret, "db_password", password))
    (inventory / "group_vars" / "all" / "main.yml").write_text(text)
    scrubber = scrubber_for({}, inventory, password)
    assert scrubber.text(f"connect with {secret} to vedfinance-api:3001") == \
        f"connect with {MASK} to vedfinance-api:3001"


SECRET = "s3cr3t P@ss/w+rd&'q\"\\x"


@pytest.mark.parametrize(("form", "encoded"), [
    ("base64", base64.b64encode(SECRET.encode()).decode()),
    ("base64 unpadded", base64.b64encode(SECRET.encode()).decode().rstrip("=")),
    ("base64 urlsafe", base64.urlsafe_b64encode(SECRET.encode()).decode()),
    ("base64 urlsafe unpadded", base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("=")),
    ("url quote", quote(SECRET, safe="")),
    ("url quote_plus", quote_plus(SECRET)),
    ("jinja urlencode", quote(SECRET, safe="/")),
    ("json once (masked at e0d454e too, kept as a guard)", json.dumps(SECRET)[1:-1]),
    ("json twice", json.dumps({"event": json.dumps({"password": SECRET})})),
    ("shell", shlex.quote(SECRET)),
    ("shell inside json", json.dumps(shlex.quote(SECRET))[1:-1]),
])
def test_encoded_forms_are_masked(form, encoded):
    """Encoded forms of a secret (e0d454e masked the value and its JSON-escaped form only: every
    case but "json once" leaked)."""
    scrubber = Scrubber([SECRET])
    assert encoded != SECRET
    masked = scrubber.text(f"before {encoded} after")
    assert MASK in masked and masked.startswith("before ") and masked.endswith(" after"), form
    for fragment in ("s3cr3t", "czNjcjN0", "P%40ss", "w+rd", "w%2Brd"):
        assert fragment not in masked, form


def test_secrets_inside_urls_and_basic_auth_are_masked(tmp_path):
    """A secret inside a database URL and inside a longer base64 text (Basic auth)."""
    secret = "hunter2-but-longer"
    scrubber = scrubber_for({"db_password": secret}, tmp_path, None)
    url = f"postgres://app:{quote(secret, safe='')}@db:5432/app"
    assert scrubber.text(url) == f"postgres://app:{MASK}@db:5432/app"
    basic = base64.b64encode(f"app:{secret}".encode()).decode()  # an Authorization: Basic value
    masked = scrubber.text(basic)
    assert MASK in masked and len(masked.replace(MASK, "")) <= 10  # "app:" and the padding stay


def test_numbers_and_short_values_are_never_secrets(tmp_path):
    """`-e api_key_len=1000` turned "10000 rows" into "********0 rows" at e0d454e: only strings
    of 8+ characters that are not all digits are secrets."""
    variables = {"api_key_len": 1000, "token_ttl": 3600.5, "secret_enabled": True,
                 "api_key_digits": "12345678901", "vault_short": "abc123", "api_key": "k3y-value-long"}
    scrubber = scrubber_for(variables, tmp_path, None)
    text = "10000 rows in 3600.5s, True, id 12345678901, abc123"
    assert scrubber.text(text) == text
    assert scrubber.text("auth k3y-value-long ok") == f"auth {MASK} ok"


@pytest.mark.ansible
def test_env_password_script_inline_vault_and_encodings_leave_no_trace(env, project, home,
                                                                      monkeypatch):
    """End to end through a real ansible run: the vault password comes from
    ANSIBLE_VAULT_PASSWORD_FILE and is a script; the secret is an inline !vault value; the
    playbook prints it raw, base64, URL-encoded, JSON-escaped and shell-quoted. No form is
    anywhere under VEDRUN_HOME (e0d454e scrubbed nothing here: no --vault-password-file)."""
    script = _script(project.parent, name="vault-client-free.sh")
    secret = f"Pl@nted/{uuid.uuid4().hex} p&ss'wd+x"
    (project / "inventory" / "group_vars" / "all" / "inline.yml").write_text(
        "---\n" + _encrypt_string(secret, "vault_test_secret", script))
    (project / "playbooks" / "leak-forms.yml").write_text("""---
- name: Detect | print a secret in every form
  hosts: all
  gather_facts: false
  tasks:
    - name: Detect | the forms
      ansible.builtin.debug:
        msg:
          - "raw {{ vault_test_secret }}"
          - "b64 {{ vault_test_secret | b64encode }}"
          - "url postgres://app:{{ vault_test_secret | urlencode }}@db/app"
          - "json {{ vault_test_secret | to_json }}"
          - "shell {{ vault_test_secret | quote }}"
""")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(script))
    engine = Engine(project, home)
    result, _ = engine.operations.run_playbook("leak-forms", Where(str(project / "inventory"), "prod"))
    assert result.rc == 0
    kept = read_everything(home)
    assert "raw ********" in kept and "b64 ********" in kept  # it ran and printed them
    for form in (secret, base64.b64encode(secret.encode()).decode(), quote(secret, safe="/"),
                 json.dumps(secret), shlex.quote(secret), "p&ss", PASSWORD):
        assert form not in kept, form
