"""What vedrun does around the ansible-playbook process that ansible-runner starts: the pty
it is read from, the first moment vedrun has nothing to do but wait, and the ssh masters it
leaves behind."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


@contextlib.contextmanager
def closing_ended_ptys_at_once():
    """ansible-runner closes ansible-playbook's pty once the process has ended (its loop runs
    while the child lives; a cancel or timeout kills the process group first), and ptyprocess
    then sleeps 0.1 s "to give the kernel time to update the process status" before it looks:
    a tenth of a second on every run, 3% of a healthy one. For the length of a run, a pty
    whose process is already reaped closes without that sleep; a live one keeps it, and
    ptyprocess's terminate after it."""
    from ptyprocess import PtyProcess

    original = PtyProcess.close

    def close(pty, force=True):
        if not pty.closed and not pty.isalive():
            pty.delayafterclose = 0
        return original(pty, force)

    PtyProcess.close = close
    try:
        yield
    finally:
        PtyProcess.close = original


def first_call_runs(after_start: Callable[[], None] | None, *,
                    then: Callable[[], bool]) -> Callable[[], bool]:
    """A cancel callback for ansible-runner that runs after_start on its first call, then
    answers what `then` answers. ansible-runner asks it each time it has read ansible-playbook's
    output or waited pexpect_timeout for it, the first time right after the process started,
    which then boots for most of a second while vedrun only waits. Nothing may raise out of
    it: ansible-runner would stop reading and leave ansible-playbook running."""

    def callback() -> bool:
        nonlocal after_start
        if after_start is not None:
            call, after_start = after_start, None
            try:
                call()
            except Exception as exc:
                sys.stderr.write(f"vedrun: WARNING: what vedrun does while ansible-playbook "
                                 f"starts failed ({exc!r}); the run goes on and is recorded\n")
        return then()

    return callback


def close_ssh_masters(control_dir: Path) -> None:
    """No ssh ControlPersist master outlives the run that started it."""
    for socket in control_dir.glob("*"):
        subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "vedrun-control"],
                       capture_output=True, timeout=10, check=False)
    shutil.rmtree(control_dir, ignore_errors=True)
