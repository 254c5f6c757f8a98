"""Real file servers for the connection tests and bench/remote.py: OpenSSH's sshd and Samba's
smbd, each started on a free loopback port with a configuration of its own in a throwaway
folder, serving a throwaway system user (made with useradd, removed at the end). Needs root and
Debian's openssh-server and samba (.ci/run installs them).

Stopping a server stops the connections it is serving too, as a server going down does.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SSHD = Path("/usr/sbin/sshd")
SMBD = Path("/usr/sbin/smbd")


def missing() -> str | None:
    """Why these servers cannot run here, or None."""
    if os.geteuid() != 0:
        return "the file servers need root (useradd, sshd, smbd)"
    for program in (SSHD, SMBD, Path("/usr/bin/smbpasswd")):
        if not program.exists():
            return f"{program} is missing (apt-get install openssh-server samba)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server not listening on {port}: {log.read_text(errors='replace')[-2000:]}")


def descendants(pid: int) -> list[int]:
    """The processes below pid, children first found (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def command_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # ended meanwhile
        return None


@dataclass
class User:
    """A system user for the servers to serve; removed by `remove`."""

    name: str = field(default_factory=lambda: f"cora-t-{secrets.token_hex(4)}")
    password: str = field(default_factory=lambda: "Pw-" + secrets.token_urlsafe(12))

    def create(self) -> None:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", self.name],
            check=True,
        )
        subprocess.run(["chpasswd"], input=f"{self.name}:{self.password}\n".encode(), check=True)

    @property
    def uid(self) -> int:
        import pwd

        return pwd.getpwnam(self.name).pw_uid

    def remove(self) -> None:
        subprocess.run(["userdel", self.name], check=False, capture_output=True)


class Server:
    """A server process in its own process group, stopped by its PID."""

    process: subprocess.Popen[bytes] | None = None
    port: int

    def _start(self, command: list[str], log: Path) -> None:
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for_port(self.port, self.process, log)

    def stop(self) -> None:
        """Stop the server and every connection it serves: sshd serves each connection from
        a process in a session of its own, so they are found by parentage, not by group."""
        if self.process is None:
            return
        for pid in [*descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def cut_connections(self) -> int:
        """Kill the processes serving open connections (not the server): as a network cut
        or a server-side timeout would end them. Returns how many were killed."""
        serving = [pid for pid in descendants(self.pid) if command_of(pid) in ("sshd", "smbd")]
        for pid in serving:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(serving)

    @property
    def running(self) -> bool:
        return self.process is not None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not running"
        return self.process.pid


class SshServer(Server):
    """sshd with password and key login, SFTP by internal-sftp, for `user` only."""

    def __init__(self, base: Path, user: User) -> None:
        self.base, self.user = base / "sshd", user
        self.base.mkdir()
        self.port = free_port()
        self.host_key = self.base / "host_key"
        self.client_key = self.base / "client_key"
        for key in (self.host_key, self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        authorized = self.base / "authorized_keys"
        shutil.copy(self.client_key.with_suffix(".pub"), authorized)
        self.known_hosts = self.base / "known_hosts"
        host_public = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_public[0]} {host_public[1]}\n")
        self.config = self.base / "sshd_config"
        self.config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"PidFile {self.base / 'sshd.pid'}\nAuthorizedKeysFile {authorized}\n"
            "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"StrictModes no\nAllowUsers {user.name}\nSubsystem sftp internal-sftp\n"
            "LogLevel VERBOSE\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder

    def start(self) -> None:
        self._start([str(SSHD), "-D", "-e", "-f", str(self.config)], self.base / "sshd.log")


class SambaServer(Server):
    """smbd serving the share `cora` (at `share_dir`) to `user`, SMB 2 and 3 only."""

    def __init__(self, base: Path, user: User, share_dir: Path) -> None:
        self.base, self.user, self.share_dir = base / "smbd", user, share_dir
        self.port = free_port()
        state = {
            name: self.base / name
            for name in ("private", "lock", "state", "cache", "pid", "ncalrpc", "logs")
        }
        for folder in state.values():
            folder.mkdir(parents=True)
        self.config = self.base / "smb.conf"
        self.config.write_text(
            "[global]\nserver role = standalone server\ninterfaces = 127.0.0.1\n"
            f"bind interfaces only = yes\nsmb ports = {self.port}\ndisable netbios = yes\n"
            + "".join(f"{name} directory = {state[name]}\n" for name in ("lock", "state", "cache"))
            + f"private dir = {state['private']}\npid directory = {state['pid']}\n"
            f"ncalrpc dir = {state['ncalrpc']}\nlog file = {state['logs']}/log.%m\n"
            f"passdb backend = tdbsam:{state['private']}/passdb.tdb\nmap to guest = never\n"
            "load printers = no\nprinting = bsd\nprintcap name = /dev/null\n"
            "disable spoolss = yes\nserver min protocol = SMB2_10\n"
            f"[cora]\npath = {share_dir}\nread only = no\nvalid users = {user.name}\n"
        )
        subprocess.run(
            ["smbpasswd", "-c", str(self.config), "-s", "-a", user.name],
            input=f"{user.password}\n{user.password}\n".encode(),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        command = [str(SMBD), "-F", "--no-process-group", "--debug-stdout", "-s", str(self.config)]
        self._start(command, self.base / "smbd.log")


@dataclass
class FileServers:
    """Both servers, one user, and the folders they serve: `sftp_root` (the SFTP connection's
    root) and `share_dir` (the SMB share), both owned by the user."""

    base: Path
    user: User
    sftp_root: Path
    share_dir: Path
    ssh: SshServer
    smb: SambaServer

    def folder(self, path: Path) -> Path:
        """A folder the user owns, with any folder made on the way (the servers write as the
        user)."""
        missing = [folder for folder in (path, *path.parents) if not folder.exists()]
        path.mkdir(parents=True, exist_ok=True)
        for folder in missing:
            os.chown(folder, self.user.uid, -1)
        return path

    def sftp_entry(self, password_env: str) -> dict[str, Any]:
        """The `connections` table of an SFTP connection to `sftp_root`."""
        return {
            "type": "sftp",
            "host": "127.0.0.1",
            "port": self.ssh.port,
            "user": self.user.name,
            "password_env": password_env,
            "known_hosts": str(self.ssh.known_hosts),
            "root": str(self.sftp_root),
        }

    def smb_entry(self, password_env: str) -> dict[str, Any]:
        """The `connections` table of an SMB connection to the share's folder `files`."""
        return {
            "type": "smb",
            "host": "127.0.0.1",
            "port": self.smb.port,
            "share": "cora",
            "user": self.user.name,
            "password_env": password_env,
            "root": "files",
        }


def write_config(path: Path, tables: dict[str, Any]) -> Path:
    """A settings file: top-level keys, then `{"connections": {name: table}}` and the like as
    TOML tables (strings, numbers and booleans only)."""

    def value(item: Any) -> str:
        return str(item).lower() if isinstance(item, bool) else json.dumps(item)

    lines = [f"{key} = {value(item)}" for key, item in tables.items() if not isinstance(item, dict)]
    for key, section in tables.items():
        if isinstance(section, dict):
            for name, table in section.items():
                lines.append(f"[{key}.{name}]")
                lines += [f"{field} = {value(item)}" for field, item in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def file_servers() -> Iterator[FileServers]:
    base = Path(tempfile.mkdtemp(prefix="cora-servers-"))
    base.chmod(0o755)  # the user must reach its folders
    user = User()
    user.create()
    ssh = smb = None
    try:
        sftp_root, share_dir = base / "sftp-root", base / "share"
        for folder in (sftp_root, share_dir):
            folder.mkdir()
            os.chown(folder, user.uid, -1)
        ssh, smb = SshServer(base, user), SambaServer(base, user, share_dir)
        ssh.start()
        smb.start()
        yield FileServers(base, user, sftp_root, share_dir, ssh, smb)
    finally:
        for server in (ssh, smb):
            if server is not None:
                server.stop()
        user.remove()
        shutil.rmtree(base, ignore_errors=True)
