"""Keep secrets out of everything vedrun prints or writes.

The secret values are read from the vault files of the inventory (decrypted with the run's
vault password) and from extra vars whose names say they are secrets. Ansible already hides
the results of `no_log` tasks; this is the second line of defence for a task that forgot it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

MASK = "********"
SECRET_NAME = re.compile(r"(pass|secret|token|key|credential|vault_)", re.IGNORECASE)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


def _leaves(value) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)


def secrets_from_vars(variables: dict) -> set[str]:
    """Values of variables named like secrets (password, token, key, vault_...)."""
    found: set[str] = set()
    for name, value in variables.items():
        if SECRET_NAME.search(str(name)):
            found.update(_leaves(value))
        elif isinstance(value, dict):
            found.update(secrets_from_vars(value))
    return found


def vault_files(inventory: Path) -> list[Path]:
    """Every file under the inventory that is ansible-vault encrypted."""
    root = inventory if inventory.is_dir() else inventory.parent
    result = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".json", ""}:
            try:
                with path.open("rb") as handle:
                    if handle.read(14) == b"$ANSIBLE_VAULT":
                        result.append(path)
            except OSError:
                continue
    return result


def secrets_from_vaults(files: list[Path], password_file: Path | None) -> set[str]:
    """Decrypt the vault files and return every value in them: all of a vault is secret."""
    if not files or password_file is None:
        return set()
    from ansible.parsing.vault import VaultLib, VaultSecret  # heavy: only when a run needs it

    password = password_file.read_bytes().strip()
    vault = VaultLib([("default", VaultSecret(password))])
    found: set[str] = set()
    for path in files:
        try:
            data = yaml.safe_load(vault.decrypt(path.read_bytes()))
        except Exception:  # noqa: S112 - a wrong password fails the run itself, clearly
            continue
        found.update(_leaves(data))
    return found


class Scrubber:
    """Replace every known secret value with a mask, in text and in nested event data."""

    def __init__(self, secrets: Iterable[str] = ()):
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        # JSON-escaped forms too: a secret with a quote or backslash appears escaped in files
        forms = set(values) | {json.dumps(v)[1:-1] for v in values}
        self._pattern = (re.compile("|".join(re.escape(v) for v in sorted(forms, key=len, reverse=True)))
                         if forms else None)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(MASK, value)

    def data(self, value):
        """Scrub nested dicts/lists in place (the event handler's hot path) and return them."""
        if self._pattern is None:
            return value
        if isinstance(value, dict):
            for key, item in value.items():
                value[key] = self.data(item)
            return value
        if isinstance(value, list):
            for index, item in enumerate(value):
                value[index] = self.data(item)
            return value
        if isinstance(value, str):
            return self._pattern.sub(MASK, value)
        return value

    def tree(self, folder: Path) -> None:
        """Rewrite every text file under a folder (artifacts, evidence) without the secrets."""
        if self._pattern is None or not folder.exists():
            return
        for path in folder.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            cleaned = self._pattern.sub(MASK, text)
            if cleaned != text:
                path.write_text(cleaned, encoding="utf-8")


def scrubber_for(variables: dict, inventory: Path, vault_password_file: Path | None) -> Scrubber:
    """The scrubber of one run: its secret-named extra vars and its inventory's vault values."""
    return Scrubber(secrets_from_vars(variables)
                    | secrets_from_vaults(vault_files(inventory), vault_password_file))
