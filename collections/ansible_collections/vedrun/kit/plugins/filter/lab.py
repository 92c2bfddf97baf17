"""Filter: the names of a lab's data volumes, one set per lab folder."""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: lab_volumes
short_description: The data volume names of the lab kept in a folder
description:
  - The database volume keeps the passwords of the lab that created it, and those passwords live
    in the lab's folder. Two checkouts (or two VEDRUN_LAB_DIR) on one machine must therefore never
    share a volume; each lab's volumes carry a digest of its folder in their names. Bringing one
    lab up replaces the other's containers (names and ports are the machine's) but leaves its
    volumes alone; its own `lab down` removes them.
positional: _input
options:
  _input: {description: The lab's folder (absolute)., type: str, required: true}
"""

EXAMPLES = r"""
# {pgdata: vedrun-lab-1a2b3c4d5e-pgdata, apidata: vedrun-lab-1a2b3c4d5e-apidata, apidiag: ...}
volumes: "{{ lab_stack_dir | vedrun.kit.lab_volumes }}"
"""

RETURN = r"""
_value: {description: "{pgdata, apidata, apidiag}: the volume names of this lab.", type: dict}
"""

KINDS = ("pgdata", "apidata", "apidiag")


def lab_password_hash(password, rounds=260000):
    """The users table's hash of a lab password (werkzeug's pbkdf2:sha256 format, which the API
    checks). The salt is derived from the password, so the same password gives the same hash and
    the lab's canary account is written once (an unchanged row is not rewritten)."""
    if not isinstance(password, str) or len(password) < 8:
        raise AnsibleFilterError("lab_password_hash: a password of 8 characters or more is required")
    salt = hashlib.sha256(b"vedrun-lab-salt:" + password.encode()).hexdigest()[:16]
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(rounds), 32)
    return f"pbkdf2:sha256:{int(rounds)}${salt}${key.hex()}"


def lab_volumes(lab_dir):
    if not isinstance(lab_dir, str) or not lab_dir.startswith("/"):
        raise AnsibleFilterError(f"lab_volumes: the lab folder must be an absolute path, got {lab_dir!r}")
    digest = hashlib.sha256(lab_dir.rstrip("/").encode()).hexdigest()[:10]
    return {kind: f"vedrun-lab-{digest}-{kind}" for kind in KINDS}


class FilterModule:
    def filters(self):
        return {"lab_volumes": lab_volumes, "lab_password_hash": lab_password_hash}
