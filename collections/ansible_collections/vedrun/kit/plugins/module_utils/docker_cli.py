"""The Docker CLI on the host, as argv lists (never a shell string).

Used by the kit's modules on the VPS: the Docker CLI is there (the runbooks drive containers
with it) and talks to the local engine; nothing else is needed. A container's inspection is
returned without its environment: `Config.Env` holds the stack's secrets and whatever a module
returns is kept in the run's artifacts on the controller.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
from urllib.parse import quote

HIDDEN = "hidden by vedrun: it holds secrets"
# The local engine's socket, read by inspections directly: one HTTP request in the module's own
# process instead of a CLI process (a tenth of a second of the host's CPU each, a health check
# makes several per host). Anything else (another DOCKER_HOST, a context) goes through the CLI.
ENGINE_SOCKET = "/var/run/docker.sock"


class DockerError(Exception):
    """The Docker CLI failed; the message carries what it said."""


def run(argv, timeout=30, stdin=None, binary=False):
    """Run `docker ARGV...`; return (rc, stdout, stderr). Never raises on a non-zero exit."""
    try:
        proc = subprocess.run(["docker", *argv], input=stdin, capture_output=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise DockerError("the docker CLI is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise DockerError(f"docker {argv[0]} gave no answer within {timeout} s") from None
    if binary:
        return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def engine_socket(environ=None):
    """The local engine's unix socket when the CLI would use it too, else None."""
    environ = os.environ if environ is None else environ
    if environ.get("DOCKER_CONTEXT"):
        return None
    host = environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return None
    path = host[len("unix://"):] if host else ENGINE_SOCKET
    return path if os.access(path, os.R_OK | os.W_OK) else None


def api_get(path, timeout=15):
    """GET on the local engine's API: (status, parsed JSON body or None), or None when the socket
    cannot be used (then the CLI decides). Raises DockerError when the engine gives no answer."""
    socket_path = engine_socket()
    if not socket_path:
        return None
    connection = _UnixHTTPConnection(socket_path, timeout)
    try:
        connection.request("GET", path, headers={"Host": "docker"})
        response = connection.getresponse()
        body = response.read()
    except (socket.timeout, TimeoutError):  # noqa: UP041 - on a VPS's Python 3.8 they differ
        raise DockerError(f"docker engine gave no answer within {timeout} s") from None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return None


def inspect(name, timeout=15):
    """`docker inspect` of one container, or None when it does not exist."""
    answer = api_get(f"/containers/{quote(str(name), safe='')}/json", timeout=timeout)
    if answer is not None and answer[0] == 200 and isinstance(answer[1], dict):
        return answer[1]
    if answer is not None and answer[0] == 404:
        return None
    rc, out, err = run(["container", "inspect", "--", name], timeout=timeout)
    if rc != 0:
        if "no such" in err.lower():
            return None
        raise DockerError(f"docker inspect {name} failed: {err.strip()[:300]}")
    data = json.loads(out)
    return data[0] if data else None


def sanitize(container):
    """The inspection with the environment and the values of secret-bearing labels hidden."""
    if not container:
        return container
    clean = dict(container)
    config = dict(clean.get("Config") or {})
    if "Env" in config:
        config["Env"] = HIDDEN
    clean["Config"] = config
    return clean


def summary(container):
    """What the decisions need of a container: small, no environment, no mounts' contents."""
    if not container:
        return {"exists": False, "id": "", "name": "", "image": "", "status": "missing",
                "running": False, "restarting": False, "paused": False, "exit_code": 0,
                "oom_killed": False, "error": "", "pid": 0, "started_at": "", "finished_at": "",
                "restart_count": 0, "restart_policy": "", "memory": 0, "memory_swap": 0,
                "health": ""}
    state = container.get("State") or {}
    host = container.get("HostConfig") or {}
    health = (state.get("Health") or {}).get("Status")
    return {
        "exists": True,
        "id": container.get("Id", ""),
        "name": (container.get("Name") or "").lstrip("/"),
        "image": (container.get("Config") or {}).get("Image", ""),
        "status": state.get("Status", "unknown"),
        "running": bool(state.get("Running")),
        "restarting": bool(state.get("Restarting")),
        "paused": bool(state.get("Paused")),
        "exit_code": state.get("ExitCode", 0),
        "oom_killed": bool(state.get("OOMKilled")),
        "error": state.get("Error", ""),
        "pid": state.get("Pid", 0),
        "started_at": state.get("StartedAt", ""),
        "finished_at": state.get("FinishedAt", ""),
        "restart_count": container.get("RestartCount", 0),
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name", ""),
        "memory": host.get("Memory", 0),
        "memory_swap": host.get("MemorySwap", 0),
        "health": health or "",
    }


def exec_argv(container, argv, stdin=None, timeout=30):
    """`docker exec [-i] CONTAINER ARGV...`; returns (rc, stdout, stderr)."""
    flags = ["-i"] if stdin is not None else []
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return run(["exec", *flags, "--", container, *argv], timeout=timeout, stdin=data)


def logs(name, lines=200, timeout=15):
    """The container's last log lines (stdout and stderr, in that order)."""
    rc, out, err = run(["logs", "--tail", str(int(lines)), "--", name], timeout=timeout)
    return (out + ("\n" if out and err else "") + err) if rc == 0 else f"(docker logs failed: {err.strip()})"


def copy_out(name, path, timeout=15):
    """A file out of a container (`docker cp`, tar on stdout), or None when it is not there."""
    import io
    import tarfile

    rc, out, _err = run(["cp", "--", f"{name}:{path}", "-"], timeout=timeout, binary=True)
    if rc != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(out)) as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                return handle.read().decode("utf-8", "replace") if handle else None
    return None
