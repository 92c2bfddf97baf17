"""Keep secrets out of everything vedrun prints or writes.

The secret values are the inventory's vault values (whole vault files and inline `!vault`
values of plain vars files, decrypted with every vault password ansible itself would use), the
vault passwords themselves, and extra vars whose names say they are secrets. Ansible already
hides the results of `no_log` tasks; this is the second line of defence for a task that forgot.

Each secret is masked in every form a tool may print it in: as is, base64 (standard and
urlsafe, padded or not, and its stretch inside a longer base64 text such as a Basic auth
header), URL-encoded (`quote` with no safe character or with `/` as Jinja's urlencode,
`quote_plus`: a password in a database URL), shell-quoted, each long line of a multi-line
secret, and each of these JSON-escaped once and twice. Only strings of at least
MIN_SECRET_LENGTH characters, not all digits, count: a port, a count or a flag is not a secret,
and masking it would hide ordinary numbers ("10000 rows"). All forms are one compiled regular
expression (a trie), so scrubbing an event costs one pass over its text.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

import yaml

MASK = "********"
SECRET_NAME = re.compile(r"(pass|secret|token|key|credential|vault_)", re.IGNORECASE)
MIN_SECRET_LENGTH = 8  # a real secret is longer; shorter strings are ordinary words and numbers
MIN_LINE_LENGTH = 20  # a line of a multi-line secret (a key's body) is masked on its own
PASSWORD_ENVS = ("VEDRUN_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_PASSWORD_FILE")
SCRIPT_TIMEOUT = 60  # seconds a vault password script may take
_VAULT_SUFFIXES = {".yml", ".yaml", ".json", ""}


def is_secret(value) -> bool:
    """A value that may be a secret: a string of MIN_SECRET_LENGTH or more, not only digits."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return len(text) >= MIN_SECRET_LENGTH and not text.isdigit()


def _leaves(value) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str):  # ints, floats and bools are never secrets
        yield value


def secrets_from_vars(variables: dict) -> set[str]:
    """String values of variables named like secrets (password, token, key, vault_...)."""
    found: set[str] = set()
    for name, value in variables.items():
        if SECRET_NAME.search(str(name)):
            found.update(_leaves(value))
        elif isinstance(value, dict):
            found.update(secrets_from_vars(value))
    return found


# -- vault passwords, as ansible reads them ---------------------------------------------------
def password_files(explicit: Path | None = None) -> list[Path]:
    """Every vault password file ansible would use: --vault-password-file, the environment
    (VEDRUN_VAULT_PASSWORD_FILE, ANSIBLE_VAULT_PASSWORD_FILE) and ANSIBLE_VAULT_IDENTITY_LIST."""
    given = [explicit] + [os.environ.get(name) for name in PASSWORD_ENVS]
    for identity in os.environ.get("ANSIBLE_VAULT_IDENTITY_LIST", "").split(","):
        source = identity.split("@", 1)[-1].strip()
        if source and source != "prompt":
            given.append(source)
    found: list[Path] = []
    for item in given:
        if item:
            path = Path(item).expanduser()
            if path.is_file() and path.resolve() not in {p.resolve() for p in found}:
                found.append(path)
    return found


def read_password(path: Path) -> bytes | None:
    """The password a file gives ansible: its content stripped or, when it is executable,
    what it prints (a `-client` script is asked for the default vault id)."""
    try:
        if not os.stat(path).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
            return path.read_bytes().strip() or None
        command = [str(path)]
        if Path(path).stem.endswith("-client"):
            command += ["--vault-id", "default"]
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=SCRIPT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None  # ansible fails the run with its own message
    return done.stdout.strip(b"\r\n") or None if done.returncode == 0 else None


# -- vault values of the inventory -------------------------------------------------------------
class _Vaulted(str):
    """The ciphertext of an inline `!vault` value."""


class _Loader(yaml.SafeLoader):
    """YAML as ansible writes it: `!vault` values kept as ciphertext, other tags (`!unsafe`)
    read as their plain value."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("!vault", lambda loader, node: _Vaulted(loader.construct_scalar(node)))
_Loader.add_multi_constructor("!", _any_tag)


def vault_files(inventory: Path) -> list[Path]:
    """Every file under the inventory that is vault-encrypted or holds an inline `!vault`."""
    root = inventory if inventory.is_dir() else inventory.parent
    if not inventory.exists():
        return []
    result = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in _VAULT_SUFFIXES:
            try:
                head = path.read_bytes()
            except OSError:
                continue
            if head.startswith(b"$ANSIBLE_VAULT") or b"!vault" in head:
                result.append(path)
    return result


def _inline_values(data) -> Iterable[_Vaulted]:
    if isinstance(data, _Vaulted):
        yield data
    elif isinstance(data, dict):
        for item in data.values():
            yield from _inline_values(item)
    elif isinstance(data, list):
        for item in data:
            yield from _inline_values(item)


def secrets_from_vaults(files: list[Path], passwords: list[bytes]) -> set[str]:
    """Every string of each vault file, and every inline `!vault` value, decrypted."""
    if not files or not passwords:
        return set()
    from ansible.parsing.vault import VaultLib, VaultSecret  # heavy: only when a run needs it

    vault = VaultLib([("default", VaultSecret(password)) for password in passwords])
    found: set[str] = set()
    for path in files:
        try:
            raw = path.read_bytes()
            if raw.startswith(b"$ANSIBLE_VAULT"):
                found.update(_leaves(yaml.load(vault.decrypt(raw), Loader=_Loader)))  # noqa: S506 - a SafeLoader
                continue
            for value in _inline_values(yaml.load(raw, Loader=_Loader)):  # noqa: S506 - a SafeLoader
                found.add(vault.decrypt(value.encode()).decode("utf-8", "replace"))
        except Exception:  # noqa: S112 - a wrong password fails the run itself, clearly
            continue
    return found


# -- the forms of a secret and the one regular expression --------------------------------------
def _base64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms |= {whole, whole.rstrip("=")}
        for offset in (0, 1, 2):  # the stretch fixed by the secret alone, inside a longer text
            shifted = encode(b"\0" * offset + raw).decode().rstrip("=")
            forms.add(shifted[-(-8 * offset // 6):(8 * (offset + len(raw))) // 6])
    return forms


def _json_forms(text: str) -> set[str]:
    """Escaped as inside a JSON string, once and twice (ASCII-only or not)."""
    found = set()
    for ascii_only in (True, False):
        once = json.dumps(text, ensure_ascii=ascii_only)[1:-1]
        found |= {once, json.dumps(once, ensure_ascii=ascii_only)[1:-1]}
    return found


def forms(secret: str) -> set[str]:
    """Every form of a secret that is masked (module docstring), each long enough to mask:
    the secret, its URL, shell and base64 encodings, and each of those JSON-escaped once and
    twice (a shell-quoted password inside the JSON of an event's stdout)."""
    found = {secret, quote(secret, safe=""), quote(secret, safe="/"), quote_plus(secret),
             shlex.quote(secret)} | _base64_forms(secret.encode("utf-8"))
    if "\n" in secret:
        found |= {line.strip() for line in secret.splitlines() if len(line.strip()) >= MIN_LINE_LENGTH}
    for form in list(found):
        found |= _json_forms(form)
    return {form for form in found if len(form) >= MIN_SECRET_LENGTH}


def _trie_pattern(node: dict) -> str:
    """A regex for the words below a trie node; at a word's end it tries the longer words
    first (a greedy optional group), so the longest form at a position is masked."""
    parts = []
    for char in sorted(key for key in node if key):
        prefix, child = char, node[char]
        while "" not in child and len(child) == 1:  # a chain without branches: one literal
            (char_, child), = child.items()
            prefix += char_
        parts.append(re.escape(prefix) + _trie_pattern(child))
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    return f"(?:{body})?" if "" in node else body


def compile_forms(words: Iterable[str]) -> re.Pattern | None:
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return re.compile(_trie_pattern(trie)) if trie else None


class Scrubber:
    """Replace every known secret value, in every form, with a mask, in text and in event data."""

    def __init__(self, secrets: Iterable[str] = ()):
        words: set[str] = set()
        for secret in secrets:
            if is_secret(secret):
                words |= forms(secret)
                words |= forms(secret.strip())
        self._pattern = compile_forms(words)

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
    """The scrubber of one run: its secret-named extra vars, its inventory's vault values
    (decrypted with every password ansible would use) and those passwords."""
    passwords = [p for p in (read_password(path) for path in password_files(vault_password_file)) if p]
    found = secrets_from_vars(variables) | secrets_from_vaults(vault_files(inventory), passwords)
    found |= {password.decode("utf-8", "replace") for password in passwords}
    return Scrubber(found)
