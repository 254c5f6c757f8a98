"""A large document through remote connections: the worker's memory while it reads a 200 MB
input over SFTP and delivers it over SMB, then the reverse; the same through S3 and Azure
Blob (SeaweedFS and Azurite, tests/support/cloud_servers.py). Prints; asserts nothing.

Real servers on loopback (tests/support/remote_servers.py: sshd and smbd, a throwaway user;
needs root and Debian's openssh-server and samba). The worker is `cora-ocr worker`, a process
of its own; its resident memory is sampled every 20 ms. Its baseline is taken after a small job went
both ways (libraries loaded, sessions open); the growth is the highest sample during the big
job minus that baseline. The "robot" moves each input to its result by a rename, so the
worker's copies are all there is to measure.

Beside it, in the same run and on the same file: paramiko's own download
(SFTPClient.getfo, which prefetches the whole file) in a process of its own, the peer a team
would write first, and Samba's C client (`smbclient`) as the throughput ceiling for SMB.

    .venv/bin/python bench/remote.py [--megabytes 200] [--kinds sftp-smb,s3-azure]
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
from tests.support.cloud_servers import BUCKET, CloudServers, cloud_servers
from tests.support.cloud_servers import missing as cloud_missing
from tests.support.remote_servers import FileServers, file_servers, missing, write_config

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


def config(base: Path, connections: dict[str, dict[str, object]]) -> Path:
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
            "connections": connections,
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


class Service:
    """The service's objects for submitting and watching jobs, a `cora-ocr worker` process
    and a robot that renames each input to its result, on the settings file in `base`."""

    def __init__(self, base: Path) -> None:
        settings = load_settings(base / "cora-ocr.toml")
        self.store = Store(settings.effective_database_url)
        upgrade(self.store.engine)
        self.services = build_services(settings, self.store)
        self.services.profiles.ensure_folders()
        profile = self.services.profiles.get("Default")
        assert profile is not None
        self.halt = threading.Event()
        self.robot = threading.Thread(target=rename_robot, args=(profile, self.halt), daemon=True)
        self.robot.start()
        self.worker = subprocess.Popen(
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

    def measure(
        self, label: str, source: tuple[str, str], target: tuple[str, str], megabytes: int
    ) -> None:
        baseline = rss_kb(self.worker.pid)
        sampler = Sampler(self.worker.pid)
        sampler.start()
        _job, seconds = run_job(self.services, source, target)
        peak = sampler.stop()
        print(
            f"  {label}: {seconds:.1f} s, FileBatch to Completed"
            f" ({megabytes / seconds:.0f} MB/s), worker RSS"
            f" {baseline / 1024:.1f} MB -> peak {peak / 1024:.1f} MB:"
            f" growth {(peak - baseline) / 1024:.1f} MB"
            " (target < 30 MB)",
            flush=True,
        )

    def close(self) -> None:
        self.worker.terminate()
        self.worker.wait(timeout=30)
        self.halt.set()
        self.robot.join()
        self.services.connections.close()
        self.store.dispose()


def sftp_and_smb(megabytes: int) -> None:
    problem = missing()
    if problem:
        print(f"SFTP and SMB: skipped: {problem}")
        return
    base = Path(tempfile.mkdtemp(prefix="cora-remote-bench-"))
    with file_servers() as servers:
        sftp_in = servers.folder(servers.sftp_root / "in")
        smb_in = servers.folder(servers.share_dir / "files" / "in")
        write_file(sftp_in / "small.png", 1)
        shutil.copy(sftp_in / "small.png", smb_in / "small.png")
        write_file(sftp_in / "big.png", megabytes)
        os.link(sftp_in / "big.png", smb_in / "big.png")
        os.environ[PASSWORD_ENV] = servers.user.password
        config(
            base,
            {"Sftp": servers.sftp_entry(PASSWORD_ENV), "Smb": servers.smb_entry(PASSWORD_ENV)},
        )
        service = Service(base)
        try:
            for pair in (
                (("Sftp", "small.png"), ("Smb", "small.xml")),
                (("Smb", "small.png"), ("Sftp", "small.xml")),
            ):
                run_job(service.services, *pair)
            print(f"{megabytes} MB through `cora-ocr worker` (pid {service.worker.pid}):")
            for label, source, target in (
                ("SFTP in, SMB out", ("Sftp", "big.png"), ("Smb", "big.xml")),
                ("SMB in, SFTP out", ("Smb", "big.png"), ("Sftp", "big.xml")),
            ):
                service.measure(label, source, target, megabytes)
                root = servers.share_dir / "files" if target[0] == "Smb" else servers.sftp_root
                size = (root / "out" / target[1]).stat().st_size
                assert size == megabytes << 20, size
        finally:
            service.close()
        growth, seconds = peer_download(servers, "big.png")
        print(
            f"  peer: paramiko's SFTPClient.getfo of the same file, alone: {seconds:.1f} s"
            f" ({megabytes / seconds:.0f} MB/s), memory growth {growth:.1f} MB"
        )
        ceiling = smbclient_put(servers, sftp_in / "big.png")
        if ceiling is not None:
            print(
                f"  ceiling: Samba's smbclient putting the same file: {ceiling:.1f} s"
                f" ({megabytes / ceiling:.0f} MB/s)"
            )
    shutil.rmtree(base, ignore_errors=True)


def s3_and_azure(megabytes: int) -> None:
    """The same through SeaweedFS's S3 gateway and Azurite (tests/support/cloud_servers.py), and
    boto3's own upload_file of the file (s3transfer: 8 MB parts, 10 threads) as the peer."""
    problem = cloud_missing()
    if problem:
        print(f"S3 and Azure Blob: skipped: {problem}")
        return
    base = Path(tempfile.mkdtemp(prefix="cora-cloud-bench-"))
    try:
        with cloud_servers() as servers:
            os.environ.update(servers.environ())
            config(
                base,
                {
                    "S3": servers.s3_entry("CORA_TEST_S3_ACCESS", "CORA_TEST_S3_SECRET"),
                    "Blob": servers.azure_entry("CORA_TEST_AZURE_KEY"),
                },
            )
            big = base / "big.png"
            write_file(big, megabytes)
            small = base / "small.png"
            write_file(small, 1)
            client, container = servers.s3_client(), servers.container()
            for name, path in (("small.png", small), ("big.png", big)):
                client.upload_file(str(path), BUCKET, f"cora/in/{name}")
                with path.open("rb") as data:
                    container.upload_blob(f"cora/in/{name}", data, overwrite=True)
            service = Service(base)
            try:
                run_job(service.services, ("S3", "small.png"), ("Blob", "small.xml"))
                run_job(service.services, ("Blob", "small.png"), ("S3", "small.xml"))
                print(f"{megabytes} MB through `cora-ocr worker` (pid {service.worker.pid}):")
                service.measure(
                    "S3 in, Azure Blob out", ("S3", "big.png"), ("Blob", "big.xml"), megabytes
                )
                service.measure(
                    "Azure Blob in, S3 out", ("Blob", "big.png"), ("S3", "big.xml"), megabytes
                )
            finally:
                service.close()
            growth, seconds = peer_upload(servers, big)
            print(
                f"  peer: boto3's upload_file of the same file, alone: {seconds:.1f} s"
                f" ({megabytes / seconds:.0f} MB/s), memory growth {growth:.1f} MB"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


def peer_upload(servers: CloudServers, path: Path) -> tuple[float, float]:
    script = f"""
import time, boto3
def rss():
    return int([l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1])
c = boto3.client('s3', endpoint_url={servers.s3_url!r}, aws_access_key_id={servers.s3_keys[0]!r},
                 aws_secret_access_key={servers.s3_keys[1]!r}, region_name='us-east-1')
c.list_buckets(); before = rss(); t = time.perf_counter()
c.upload_file({str(path)!r}, {BUCKET!r}, 'cora/peer.bin')
print((rss() - before) / 1024, time.perf_counter() - t)
"""
    done = subprocess.run(
        [str(VENV_PYTHON), "-c", script], capture_output=True, text=True, check=True
    )
    growth, seconds = done.stdout.split()
    return float(growth), float(seconds)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up the servers and the user
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument(
        "--kinds", default="sftp-smb,s3-azure", help="which pairs: sftp-smb, s3-azure"
    )
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))
    if "sftp-smb" in kinds:
        sftp_and_smb(args.megabytes)
    if "s3-azure" in kinds:
        s3_and_azure(args.megabytes)


if __name__ == "__main__":
    main()
