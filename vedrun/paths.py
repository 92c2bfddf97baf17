"""Where things live: the project (playbooks, roles, inventory) and vedrun's home (records)."""

from __future__ import annotations

import os
from pathlib import Path

from vedrun.errors import ProjectNotFound

CATALOG_FILE = "runbooks.yml"
INCIDENTS_FILE = "INCIDENTS.md"  # in vedrun's home, rendered by vedrun.reports
PROJECT_ENV = "VEDRUN_PROJECT"
HOME_ENV = "VEDRUN_HOME"


def _is_project(path: Path) -> bool:
    return (path / CATALOG_FILE).is_file() and (path / "playbooks").is_dir()


def find_project(explicit: str | os.PathLike | None = None, cwd: Path | None = None) -> Path:
    """The project root: --project, then $VEDRUN_PROJECT, then the folders above the working
    directory, then the checkout this package was installed from (pip install -e)."""
    given = explicit or os.environ.get(PROJECT_ENV)
    if given:
        path = Path(given).expanduser().resolve()
        if not _is_project(path):
            raise ProjectNotFound(
                f"{path} is not a vedrun project (no {CATALOG_FILE} and playbooks/ there). "
                f"Point --project or ${PROJECT_ENV} at the repository's root folder."
            )
        return path
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if _is_project(folder):
            return folder
    source_checkout = Path(__file__).resolve().parent.parent
    if _is_project(source_checkout):
        return source_checkout
    raise ProjectNotFound(
        f"No vedrun project found from {start} upwards. Run vedrun inside the repository, "
        f"or set --project / ${PROJECT_ENV} to the folder that holds {CATALOG_FILE}."
    )


def default_home() -> Path:
    """$VEDRUN_HOME, else $XDG_DATA_HOME/vedrun, else ~/.local/share/vedrun."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "vedrun"
