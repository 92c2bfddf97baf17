"""The deploy history on the host: what was deployed, when, with which declared configuration.

Each entry is {image, reason, deployed_at, spec}; the spec holds the container's configuration
as community.docker.docker_container takes it, with its environment in an env file on the host
(`env_file`), so that a spec can travel to the controller without a secret. An entry written by
an older vedrun with the environment inline has it hidden here and is marked `env_inline`.
"""

from __future__ import annotations

import json
import os

from ansible_collections.vedrun.kit.plugins.module_utils import docker_cli, env_file
from ansible_collections.vedrun.kit.plugins.module_utils.docker_cli import HIDDEN


def read(path):
    """(entries, problem): the history, newest last, each entry safe to return."""
    if not os.path.exists(path):
        return [], ""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, ValueError) as exc:
        return [], f"unreadable deploy history {path}: {exc}"
    if not isinstance(raw, list):
        return [], f"deploy history {path} is not a list"
    entries = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            continue
        spec = dict(entry.get("spec") or {})
        inline = "env" in spec
        if inline:
            spec["env"] = HIDDEN
        entries.append({"index": index, "image": entry.get("image", spec.get("image", "")),
                        "reason": entry.get("reason", ""), "deployed_at": entry.get("deployed_at", ""),
                        "spec": spec, "env_inline": inline})
    return entries, ""


def history(path):
    """The history as a probe returns it: {path, entries, problem, volumes}, where volumes says
    whether each named volume of the newest spec still exists (a redeploy onto a volume Docker
    would create afresh would start empty)."""
    entries, problem = read(path) if path else ([], "")
    volumes = {}
    for mount in (entries[-1]["spec"].get("mounts") or []) if entries else []:
        if mount.get("type", "volume") == "volume" and mount.get("source"):
            rc, _out, _err = docker_cli.run(["volume", "inspect", "--", mount["source"]])
            volumes[mount["source"]] = rc == 0
    return {"path": path, "entries": entries, "problem": problem, "volumes": volumes}


def env_of(container):
    """A container's environment as Docker inspect shows it, as a dict (kept in memory only)."""
    env = {}
    for item in ((container or {}).get("Config") or {}).get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def newest_env(path, view):
    """The newest deploy and what `view(env)` makes of its env file on the host (never the env
    itself): {path, entries, problem, newest {index, image, reason, deployed_at, env_file}, env}."""
    entries, problem = read(path)
    out = {"path": path, "entries": len(entries), "problem": problem, "newest": None, "env": None}
    if not entries:
        return out
    newest = entries[-1]
    env_path = (newest.get("spec") or {}).get("env_file") or ""
    out["newest"] = {"index": newest.get("index", len(entries) - 1), "image": newest.get("image", ""),
                     "reason": newest.get("reason", ""), "deployed_at": newest.get("deployed_at", ""),
                     "env_file": env_path}
    if not env_path:
        out["problem"] = "the newest deploy has no env file (its environment is not on this host)"
        return out
    try:
        out["env"] = view(env_file.read(env_path))
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", exc)
        out["problem"] = f"cannot read the newest deploy's env file {env_path}: {why}"
    return out
