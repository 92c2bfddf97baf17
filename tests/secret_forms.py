"""Search bytes for secrets in every form they could be written in: as they are, base64 (standard
and URL-safe, at any alignment inside a longer text), URL-encoded (as in a database URL), JSON-escaped
once and twice, shell-quoted, and hex.

Written apart from vedrun's scrubber on purpose: the search must not share the code it checks.
Used by tests/test_hardening_secrets_lab.py (every command against the lab) and, as a script, by
scripts/drills.sh after the Molecule drills:

    python tests/secret_forms.py --secrets-dir .lab/secrets PATH...   (exit 1 on any hit)
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

# Under these lengths a "secret" would be found by chance (a port, a word): not a secret.
MIN_LENGTH = 8


def _base64_cores(raw: bytes) -> Iterator[str]:
    """The base64 characters that depend on the secret's bytes alone, for each of the three
    alignments the secret can have inside a longer encoded text."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = (offset * 8 + 5) // 6
        end = ((offset + len(raw)) * 8) // 6
        core = encoded[start:end]
        yield core
        yield core.replace("+", "-").replace("/", "_")


def forms(secret: str) -> dict[str, str]:
    """Each written form of one secret, by name (forms that coincide are kept once)."""
    raw = secret.encode()
    found: dict[str, str] = {}
    candidates = [
        ("as is", secret),
        ("URL-encoded", quote(secret, safe="")),
        ("URL-encoded (form)", quote_plus(secret)),
        ("JSON-escaped", json.dumps(secret)[1:-1]),
        ("JSON-escaped twice", json.dumps(json.dumps(secret))[1:-1]),
        ("shell-quoted", shlex.quote(secret)),
        ("hex", raw.hex()),
    ]
    candidates += [(f"base64 #{n}", core) for n, core in enumerate(_base64_cores(raw))]
    for name, text in candidates:
        if text not in found.values():
            found[name] = text
    return found


def read_secrets(folder: Path) -> dict[str, str]:
    """The lab's generated secrets (<lab>/secrets/<name>), by file name."""
    secrets = {}
    for path in sorted(folder.iterdir()):
        value = path.read_text().strip()
        if path.is_file() and len(value) >= MIN_LENGTH:
            secrets[path.name] = value
    return secrets


def files_under(roots: Iterable[Path], skip: Iterable[Path] = ()) -> Iterator[Path]:
    skipped = [path.resolve() for path in skip]
    for root in roots:
        candidates = [root] if root.is_file() else sorted(root.rglob("*")) if root.is_dir() else []
        for path in candidates:
            resolved = path.resolve()
            if path.is_file() and not path.is_symlink() and not any(
                    resolved == s or s in resolved.parents for s in skipped):
                yield path


def search(secrets: dict[str, str], texts: dict[str, bytes]) -> list[str]:
    """Every (where, which secret, which form) found, as readable lines (no secret in them)."""
    hits = []
    for secret_name, secret in secrets.items():
        if len(secret) < MIN_LENGTH:
            raise ValueError(f"{secret_name}: a planted secret must be {MIN_LENGTH} characters or more")
        for form_name, text in forms(secret).items():
            needle = text.encode()
            for where, data in texts.items():
                if needle in data:
                    hits.append(f"{where}: {secret_name} ({form_name})")
    return hits


def search_paths(secrets: dict[str, str], roots: Iterable[Path], skip: Iterable[Path] = ()) -> list[str]:
    return search(secrets, {str(path): path.read_bytes() for path in files_under(roots, skip)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secrets-dir", type=Path, required=True)
    parser.add_argument("--skip", type=Path, action="append", default=[],
                        help="a file or folder where the secrets belong (the host's side)")
    parser.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    secrets = read_secrets(args.secrets_dir)
    if not secrets:
        print(f"secret search: no secret in {args.secrets_dir}: nothing to search for", file=sys.stderr)
        return 2
    files = list(files_under(args.paths, args.skip))
    hits = search(secrets, {str(path): path.read_bytes() for path in files})
    for hit in hits:
        print(f"SECRET FOUND {hit}")
    print(f"secret search: {len(secrets)} secrets x {len(forms(next(iter(secrets.values()))))} forms, "
          f"{len(files)} files: {len(hits)} hits")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
