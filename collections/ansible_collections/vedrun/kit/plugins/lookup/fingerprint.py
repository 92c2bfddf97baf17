"""Lookup: a short fingerprint of a folder's files (names and contents), for image tags."""

from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: fingerprint
short_description: A 12-hex fingerprint of every file under each folder given
description:
  - Hashes the relative path and the content of every file under the folder (sorted, so the
    order of the walk does not matter), plus C(salt). README.md files and __pycache__ folders are
    left out, as they are not inputs of an image, and so are node_modules folders (their
    package-lock.json is fingerprinted, and the lab installs them from it with npm ci). The lab
    tags each image with it, so that an image is rebuilt exactly when one of its inputs changed.
options:
  _terms: {description: Folders on the controller., required: true}
  salt: {description: Mixed into every fingerprint (the base image's id)., type: str, default: ""}
"""

RETURN = r"""
_raw: {description: One fingerprint per folder., type: list, elements: str}
"""

SKIP_FILES = {"README.md"}
SKIP_DIRS = {"__pycache__", "node_modules"}


def fingerprint(folder, salt=""):
    if not os.path.isdir(folder):
        raise AnsibleLookupError(f"fingerprint: {folder} is not a folder")
    digest = hashlib.sha256(salt.encode())
    paths = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        paths += [os.path.join(root, name) for name in files if name not in SKIP_FILES]
    for path in sorted(paths, key=lambda p: os.path.relpath(p, folder).encode()):
        digest.update(os.path.relpath(path, folder).encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()[:12]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [fingerprint(str(term), self.get_option("salt")) for term in terms]
