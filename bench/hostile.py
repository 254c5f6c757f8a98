"""Hostile-input figures: how long `cora-ocr serve` takes to answer each hostile request,
GetStatus's latency with 100 slow sockets open next to the same without them (on `serve`,
and on `cora-ocr web` behind nginx on `cora-ocr nginx-config`'s configuration), and the
server's peak memory growth over the whole run. Prints; asserts nothing.

    .venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.frontdoor import SLOW_SOCKETS, SlowCrowd, measure
from bench.serving import Front, Result, free_port, lua, wait_listening
from tests.support.factories import SOAP11_CT, action, envelope, get_status_body, header_xml
from tests.support.hostile_cases import CANARY, cases, send
from tests.support.processes import SERVICE, Service, Trap

SECONDS = 5
CONNECTIONS_NOTE = "wrk 2 threads x 64 connections"


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def get_status_script() -> str:
    headers = {"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus")}
    return lua("POST", headers, envelope(get_status_body(), header_xml(1)).decode())


def calm_and_crowded(port: int, workdir: Path) -> tuple[Result, Result, SlowCrowd]:
    script = get_status_script()
    measure(port, SERVICE, script, 1, workdir)  # warm-up
    calm = measure(port, SERVICE, script, SECONDS, workdir)
    with SlowCrowd(port) as crowd:
        crowded = measure(port, SERVICE, script, SECONDS, workdir)
    return calm, crowded, crowd


def print_latency(name: str, calm: Result, crowded: Result) -> None:
    times = crowded.p99_ms / calm.p99_ms if calm.p99_ms else float("inf")
    verdict = "met" if times <= 2 and crowded.rate > 0 else "missed"
    print(
        f"{name}: GetStatus p99 {calm.p99_ms:.1f} ms ({calm.rate:.0f} req/s), with "
        f"{SLOW_SOCKETS} slow sockets open {crowded.p99_ms:.1f} ms ({crowded.rate:.0f} req/s): "
        f"{times:.1f}x (target: within 2x): {verdict}"
    )


def web_latency(base: Path) -> tuple[Result, Result, SlowCrowd]:
    port = free_port()
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(base / "web-data"),
        "CORA_OCR_DATABASE_URL": f"sqlite:///{base / 'web.db'}",
        "CORA_OCR_PORT": str(port),
        "CORA_OCR_REQUIRE_HTTPS": "false",
        "CORA_OCR_ALLOW_ANONYMOUS": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cora_ocr.cli", "--log-level", "ERROR", "web"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    front = None
    try:
        wait_listening(port)
        time.sleep(1)
        front = Front(env, port, base / "nginx")
        return calm_and_crowded(front.port, base)
    finally:
        if front is not None:
            front.stop()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    # wrk and the slow crowd all come from 127.0.0.1: one address holding 164 connections,
    # which max_connections_per_client (100) would refuse as one client.
    os.environ["CORA_OCR_MAX_CONNECTIONS_PER_CLIENT"] = "100000"
    with tempfile.TemporaryDirectory(prefix="cora-hostile-") as tmp:
        base = Path(tmp)
        canary = base / "canary.txt"
        canary.write_text(CANARY)
        service = Service(base, f"sqlite:///{base / 'bench.db'}")
        trap = Trap()
        try:
            pid = service.process.pid
            time.sleep(1)  # let the robot load its model: that is not request memory
            peak_before = memory_kb(pid, "VmHWM")
            slowest = 0.0
            print(f"{'request':<36} {'status':>6} {'seconds':>8} {'peak MB':>8}")
            for case in cases(str(canary), trap.url):
                started = time.perf_counter()
                status, _text = send(service, case)
                elapsed = time.perf_counter() - started
                slowest = max(slowest, elapsed)
                peak = (memory_kb(pid, "VmHWM") - peak_before) / 1024
                print(f"{case.name:<36} {status:>6} {elapsed:>8.3f} {peak:>8.1f}")
            growth = (memory_kb(pid, "VmHWM") - peak_before) / 1024
            calm, crowded, _crowd = calm_and_crowded(service.port, base)
            whole = (memory_kb(pid, "VmHWM") - peak_before) / 1024
            print(f"slowest answer: {slowest:.3f} s (target: under 1 s)")
            print(f"outbound connections to the trap: {trap.connections}")
            print(f"({CONNECTIONS_NOTE}, {SECONDS} s each, SQLite)")
            print_latency("serve", calm, crowded)
        finally:
            trap.close()
            service.stop()
            print_latency("nginx + web", *web_latency(base)[:2])
        verdict = "met" if whole < 10 else "missed"
        print(
            f"serve's peak memory growth: {growth:.1f} MB over the hostile requests, "
            f"{whole:.1f} MB over the whole run (target: under 10 MB): {verdict}"
        )


if __name__ == "__main__":
    main()
