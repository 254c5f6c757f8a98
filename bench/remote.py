"""A large document through remote connections: the worker's memory while it reads a 200 MB
input over SFTP and delivers it over SMB, then the reverse. Prints; asserts nothing.

Real servers on loopback (tests/remote_servers.py: sshd and smbd, a throwaway user; needs root
and Debian's openssh-server and samba). The worker is `cora-ocr worker`, a process of its own;
its resident memory is sampled every 20 ms. Its baseline is taken after a small job went
both ways (libraries loaded, sessions open); the growth is the highest sample during the big
job minus that baseline. The "robot" moves each input to its result by a rename, so the
worker's copies are all there is to measure.

Beside it, in the same run and on the same file: paramiko's own download
(SFTPClient.getfo, which prefetches the whole file) in a process of its own, the peer a team
would write first, and Samba's C client (`smbclient`) as the throughput ceiling for SMB.

    .venv/bin/python bench/remote.py [--megabytes 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cora_ocr.config import load_settings
from cora_ocr.jobs import FileBatchRequest, FileRef
from cora_ocr.profiles import Profile
from cora_ocr.services import build_services
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from tests.remote_servers import FileServers, file_servers, missing, write_config

PASSWORD_ENV = "CORA_BENCH_REMOTE_PASSWORD"
VENV_PYTHON = Path(sys.executable)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """The highest resident size of a process, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.halt = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            self.peak = max(self.peak, rss_kb(self.pid))

    def stop(self) -> int:
        self.halt.set()
        self.join()
        return self.peak


def config(servers: FileServers, base: Path) -> Path:
    return write_config(
        base / "cora-ocr.toml",
        {
            "data_dir": str(base / "data"),
            "poll_seconds": 0.2,
            "profiles": {
                "Default": {
                    "input_dir": str(base / "robot" / "in"),
                    "output_dir": str(base / "robot" / "out"),
                }
            },
            "connections": {
                "Sftp": servers.sftp_entry(PASSWORD_ENV),
                "Smb": servers.smb_entry(PASSWORD_ENV),
            },
        },
    )


def rename_robot(profile: Profile, halt: threading.Event) -> None:
    """Each input becomes its result by a rename: no copy, no memory."""
    while not halt.wait(0.05):
        for path in profile.input_dir.glob("[!.]*"):
            if path.is_file():
                os.replace(path, profile.result_path(path.name))


def write_file(path: Path, megabytes: int) -> None:
    with path.open("wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(1 << 20))


def run_job(services, source: tuple[str, str], target: tuple[str, str]) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    job_id = services.jobs.submit(
        FileBatchRequest(
            timeout=3600,
            external_context="bench",
            input_file=FileRef(source[0], "in", source[1]),
            ocr_profile="Default",
            output_file=FileRef(target[0], "out", target[1]),
            put_model="Overwrite",
        ),
        actor="bench",
    )
    while True:
        job = services.jobs.show(job_id)
        if job.state in ("completed", "failed", "aborted"):
            if job.state != "completed":
                raise RuntimeError(f"job {job_id}: {job.state} {job.error_code} {job.error_reason}")
            return job_id, time.perf_counter() - started
        time.sleep(0.05)


def peer_download(servers: FileServers, name: str) -> tuple[float, float]:
    """paramiko's getfo of the same file in a fresh process: (MB growth, seconds)."""
    script = f"""
import os, time, paramiko
def rss():
    return int([l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1])
c = paramiko.SSHClient(); c.load_host_keys({str(servers.ssh.known_hosts)!r})
c.connect('127.0.0.1', {servers.ssh.port}, {servers.user.name!r},
          password=os.environ[{PASSWORD_ENV!r}], look_for_keys=False, allow_agent=False)
s = c.open_sftp(); before = rss(); t = time.perf_counter()
with open(os.devnull, 'wb') as out:
    s.getfo({str(servers.sftp_root / "in" / name)!r}, out)
print((rss() - before) / 1024, time.perf_counter() - t)
"""
    env = {**os.environ, PASSWORD_ENV: servers.user.password}
    done = subprocess.run(
        [str(VENV_PYTHON), "-c", script], capture_output=True, text=True, env=env, check=True
    )
    growth, seconds = done.stdout.split()
    return float(growth), float(seconds)


def smbclient_put(servers: FileServers, source: Path) -> float | None:
    """Samba's C client putting the same file: seconds, or None without smbclient."""
    if shutil.which("smbclient") is None:
        return None
    started = time.perf_counter()
    subprocess.run(
        [
            "smbclient",
            "//127.0.0.1/cora",
            "-p",
            str(servers.smb.port),
            "-U",
            f"{servers.user.name}%{servers.user.password}",
            "-c",
            f"put {source} files/out/ceiling.bin",
        ],
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up the servers and the user
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    problem = missing()
    if problem:
        sys.exit(f"bench/remote.py: {problem}")
    base = Path(tempfile.mkdtemp(prefix="cora-remote-bench-"))
    with file_servers() as servers:
        sftp_in = servers.folder(servers.sftp_root / "in")
        smb_in = servers.folder(servers.share_dir / "files" / "in")
        write_file(sftp_in / "small.png", 1)
        shutil.copy(sftp_in / "small.png", smb_in / "small.png")
        write_file(sftp_in / "big.png", args.megabytes)
        os.link(sftp_in / "big.png", smb_in / "big.png")

        os.environ[PASSWORD_ENV] = servers.user.password
        settings = load_settings(config(servers, base))
        store = Store(settings.effective_database_url)
        upgrade(store.engine)
        services = build_services(settings, store)
        services.profiles.ensure_folders()
        halt = threading.Event()
        profile = services.profiles.get("Default")
        assert profile is not None
        robot = threading.Thread(target=rename_robot, args=(profile, halt), daemon=True)
        robot.start()
        worker = subprocess.Popen(
            [
                str(VENV_PYTHON.parent / "cora-ocr"),
                "--log-level",
                "WARNING",
                "--config",
                str(base / "cora-ocr.toml"),
                "worker",
            ],
            env={**os.environ},
        )
        try:
            for pair in (
                (("Sftp", "small.png"), ("Smb", "small.xml")),
                (("Smb", "small.png"), ("Sftp", "small.xml")),
            ):
                run_job(services, *pair)
            print(f"{args.megabytes} MB through `cora-ocr worker` (pid {worker.pid}):")
            for label, source, target in (
                ("SFTP in, SMB out", ("Sftp", "big.png"), ("Smb", "big.xml")),
                ("SMB in, SFTP out", ("Smb", "big.png"), ("Sftp", "big.xml")),
            ):
                baseline = rss_kb(worker.pid)
                sampler = Sampler(worker.pid)
                sampler.start()
                _job, seconds = run_job(services, source, target)
                peak = sampler.stop()
                root = servers.share_dir / "files" if target[0] == "Smb" else servers.sftp_root
                size = (root / "out" / target[1]).stat().st_size
                assert size == args.megabytes << 20, size
                print(
                    f"  {label}: {seconds:.1f} s, FileBatch to Completed"
                    f" ({args.megabytes / seconds:.0f} MB/s), worker RSS"
                    f" {baseline / 1024:.1f} MB -> peak {peak / 1024:.1f} MB:"
                    f" growth {(peak - baseline) / 1024:.1f} MB"
                    " (target < 30 MB)"
                )
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            halt.set()
            robot.join()
            services.connections.close()
            store.dispose()
        growth, seconds = peer_download(servers, "big.png")
        print(
            f"  peer: paramiko's SFTPClient.getfo of the same file, alone: {seconds:.1f} s"
            f" ({args.megabytes / seconds:.0f} MB/s), memory growth {growth:.1f} MB"
        )
        ceiling = smbclient_put(servers, sftp_in / "big.png")
        if ceiling is not None:
            print(
                f"  ceiling: Samba's smbclient putting the same file: {ceiling:.1f} s"
                f" ({args.megabytes / ceiling:.0f} MB/s)"
            )
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
