"""The floor of the overhead ratio: the least a Click command built on ansible-runner can do.

It parses its options and runs the playbook through `ansible_runner.run`, with the settings that
make vedrun's runs fast (ansible-runner's 0.2 s read timeout, no stdout file, no 0.1 s sleep when
the ended process's pty is closed), and nothing else: no catalog, no inventory check, no incident,
no lock, no event handler, no scrubbing. `bench/run.py` runs it beside plain ansible-playbook and
vedrun: what it adds over plain ansible-playbook is what the architecture contract's parts cost
(the interpreter, Click, ansible-runner and its event callback inside ansible-playbook); what
vedrun adds over it is vedrun's own work.

    python bench/runner_floor.py -i INVENTORY -l LIMIT [-e VAR=VALUE] PLAYBOOK
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

import click

from vedrun.playbook_process import closing_ended_ptys_at_once


@click.command()
@click.option("-i", "inventory", required=True, type=click.Path(exists=True))
@click.option("-l", "limit", required=True)
@click.option("-e", "extra", multiple=True)
@click.argument("playbook", type=click.Path(exists=True, dir_okay=False))
def main(inventory: str, limit: str, extra: tuple[str, ...], playbook: str) -> None:
    import ansible_runner

    playbook_path = Path(playbook).resolve()
    project = playbook_path.parent.parent
    with tempfile.TemporaryDirectory(prefix="vedrun-floor-") as private, closing_ended_ptys_at_once():
        runner = ansible_runner.run(
            private_data_dir=private, project_dir=str(project), playbook=str(playbook_path),
            inventory=str(Path(inventory).resolve()), limit=limit,
            cmdline=" ".join(f"-e {shlex.quote(value)}" for value in extra) or None,
            envvars={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                     "ANSIBLE_CONFIG": str(project / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
            quiet=True, settings={"pexpect_timeout": 0.2, "suppress_output_file": True})
    sys.exit(runner.rc)


if __name__ == "__main__":
    main()
