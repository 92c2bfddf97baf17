"""Who holds a port, from a /proc tree built by the test (the kernel's view, no parsing of names),
and once against this machine's real /proc with a real listening socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ansible_collections.vedrun.kit.plugins.module_utils import listeners

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def fake_proc(tmp_path: Path, port: int, inode: str, pid: int, comm: str, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    line = (f"   0: 0100007F:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
            f"     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n")
    (proc / "net" / "tcp").write_text(HEADER + line)
    (proc / "net" / "tcp6").write_text(HEADER)
    task = proc / str(pid)
    (task / "fd").mkdir(parents=True)
    (task / "fd" / "3").symlink_to(f"socket:[{inode}]")
    (task / "fd" / "4").symlink_to("/dev/null")
    (task / "exe").symlink_to("/usr/bin/python3.11")
    (task / "comm").write_text(comm + "\n")
    (task / "cmdline").write_text("python3\x00-m\x00http.server\x00")
    (task / "cgroup").write_text(cgroup)
    fields = ["S"] + ["0"] * 18 + ["12345"] + ["0"] * 10
    (task / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")
    (proc / "self").mkdir()  # not a pid: skipped
    return proc


def test_the_holder_is_found_by_its_socket_inode(tmp_path):
    container = "c" * 64
    proc = fake_proc(tmp_path, 3001, "777", 4242, "squatter",
                     f"0::/system.slice/docker-{container}.scope\n")
    [holder] = listeners.holders(3001, str(proc))
    assert holder["pid"] == 4242 and holder["start_time"] == 12345
    assert holder["exe"] == "/usr/bin/python3.11" and holder["container_id"] == container
    assert listeners.holders(3002, str(proc)) == []


def test_a_process_name_cannot_pose_as_another_pid(tmp_path):
    """A listener named `ok",pid=1,fd=3` was read as pid 1 from ss's text; the kernel's links say
    which pid holds the socket, whatever its name."""
    proc = fake_proc(tmp_path, 3001, "778", 4243, 'ok",pid=1,fd=3', "0::/user.slice\n")
    [holder] = listeners.holders(3001, str(proc))
    assert holder["pid"] == 4243 and holder["container_id"] == ""
    assert holder["comm"] == 'ok",pid=1,fd=3'  # shown to people, decides nothing


def test_a_real_listener_on_this_machine():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        [holder] = listeners.holders(port)
        assert holder["pid"] == os.getpid()
        assert holder["exe"] == os.path.realpath(sys.executable) or "python" in holder["exe"]
        assert holder["start_time"] == listeners.start_time(os.getpid())
    finally:
        server.close()
    assert listeners.holders(port) == []


def test_a_child_process_listener_is_named_by_its_pid():
    child = subprocess.Popen([sys.executable, "-c", "import socket,time; s=socket.socket(); "
                              "s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); "
                              "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        deadline = time.monotonic() + 5
        found = []
        while not found and time.monotonic() < deadline:
            found = listeners.holders(port)
        assert [h["pid"] for h in found] == [child.pid]
    finally:
        child.kill()
        child.wait()
