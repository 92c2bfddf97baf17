"""Which inventory a command means and which hosts a run would touch (with a host cache)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from vedrun.errors import UsageError

CACHE_SIZE = 50  # inventories (with their --limit) remembered


@dataclass(frozen=True)
class Where:
    """Where a command runs: `-i`, `-l` and the vault password file of its command line."""

    inventory: str | os.PathLike | None = None
    limit: str | None = None
    vault_password_file: Path | None = None


def inventory_key(inventory: Path, limit: str | None, config: Path) -> str | None:
    """A key that changes whenever a file of a static inventory (or ansible.cfg) changes;
    None for a dynamic inventory (a script or an inventory plugin), which is never cached."""
    files = sorted(p for p in inventory.rglob("*") if p.is_file()) if inventory.is_dir() \
        else [inventory]
    parts = [f"limit={limit}"]
    for path in [*files, config]:
        try:
            info = path.stat()
        except OSError:
            continue
        relative = path.relative_to(inventory).parts if path.is_relative_to(inventory) else ()
        if relative and relative[0] not in ("group_vars", "host_vars"):
            if info.st_mode & 0o111:
                return None  # an executable inventory script
            if path.suffix in (".yml", ".yaml") and "\nplugin:" in "\n" + path.read_text(
                    encoding="utf-8", errors="replace"):
                return None  # an inventory plugin (cloud, Docker...): its hosts change by themselves
        parts.append(f"{path}:{info.st_mtime_ns}:{info.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class Inventories:
    """Resolves `-i` to an inventory path and `-l` to the hosts it names."""

    def __init__(self, project: Path, home: Path):
        self.project = project
        self.cache = home / "cache" / "hosts.json"

    def default(self) -> Path:
        return self.project / "inventory" / "production"

    def lab(self) -> Path:
        return self.project / "inventory" / "lab"

    def resolve(self, inventory: str | os.PathLike | None) -> Path:
        """`-i` as given (relative to the working directory, else to the project), or the
        production inventory; a UsageError names a folder that exists."""
        path = Path(inventory).expanduser() if inventory else self.default()
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else (self.project / path)
        if not path.exists():
            raise UsageError(f"Inventory {path} does not exist. Give -i a folder such as "
                             f"{self.project / 'inventory' / 'staging'}.")
        return path.resolve()

    def hosts(self, inventory: Path, limit: str | None) -> tuple[list[str], str]:
        """The hosts a run would touch, and the inventory's `vedrun_environment`.

        Resolved by ansible's own InventoryManager (its patterns, plugins and groups), and
        remembered for a static inventory until one of its files changes: importing ansible
        costs a quarter of a second on every run otherwise."""
        key = inventory_key(inventory, limit, self.project / "ansible.cfg")
        known = self._read_cache() if key is not None else {}
        if key in known:
            return known[key]["hosts"], known[key]["environment"]
        hosts, environment = self._resolve_hosts(inventory, limit)
        if key is not None:
            from vedrun.files import atomic_write

            known[key] = {"hosts": hosts, "environment": environment}
            atomic_write(self.cache, json.dumps(dict(list(known.items())[-CACHE_SIZE:])))
        return hosts, environment

    def _read_cache(self) -> dict:
        try:
            return json.loads(self.cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _resolve_hosts(self, inventory: Path, limit: str | None) -> tuple[list[str], str]:
        os.environ.setdefault("ANSIBLE_CONFIG", str(self.project / "ansible.cfg"))
        from ansible.inventory.manager import InventoryManager  # heavy: only for a run
        from ansible.parsing.dataloader import DataLoader

        manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
        everything = [host.name for host in manager.get_hosts("all")]
        if not everything:
            raise UsageError(f"Inventory {inventory} has no hosts (or could not be parsed).")
        if limit:
            manager.subset(limit)
        hosts = [host.name for host in manager.get_hosts("all")]
        if not hosts:
            raise UsageError(
                f"--limit {limit!r} matches no host in {inventory}. Hosts there: "
                f"{', '.join(everything[:20])}; groups: "
                f"{', '.join(g for g in manager.groups if g not in ('all', 'ungrouped'))}."
            )
        environment = str(manager.groups["all"].get_vars().get("vedrun_environment", "production"))
        return hosts, environment
