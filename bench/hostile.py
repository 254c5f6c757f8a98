"""Hostile-input figures: how long `cora-ocr serve` takes to answer each hostile request, and
how much its peak memory grows over the whole suite. Prints; asserts nothing.

    .venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile_cases import CANARY, cases
from tests.test_hostile import Service, Trap, send


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
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
            print(f"{'request':<32} {'status':>6} {'seconds':>8}")
            for case in cases(str(canary), trap.url):
                started = time.perf_counter()
                status, _text = send(service, case)
                elapsed = time.perf_counter() - started
                slowest = max(slowest, elapsed)
                print(f"{case.name:<32} {status:>6} {elapsed:>8.3f}")
            growth = (memory_kb(pid, "VmHWM") - peak_before) / 1024
            print(f"slowest answer: {slowest:.3f} s (target: under 1 s)")
            print(f"server peak memory growth: {growth:.1f} MB (target: under 50 MB)")
            print(f"outbound connections to the trap: {trap.connections}")
        finally:
            trap.close()
            service.stop()


if __name__ == "__main__":
    main()
