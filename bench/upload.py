"""A large upload to the REST face: `cora-ocr serve`'s peak memory growth while it takes a
50 MB document (POST /api/v1/jobs, streamed by the client). Prints; asserts nothing.

    .venv/bin/python bench/upload.py [--megabytes 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.hostile import memory_kb
from tests.support.processes import Service

BOUNDARY = "cora-bench-boundary"


def body(megabytes: int) -> Iterator[bytes]:
    """A multipart body holding a PNG-signed document of `megabytes`, a megabyte at a time."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    yield b"\x89PNG\r\n\x1a\n"
    for _ in range(megabytes):
        yield b"\0" * (1 << 20)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cora-upload-") as tmp:
        base = Path(tmp)
        service = Service(base, f"sqlite:///{base / 'bench.db'}")
        try:
            pid = service.process.pid
            time.sleep(1)  # the robot's model loaded: not upload memory
            before = memory_kb(pid, "VmHWM")
            started = time.perf_counter()
            reply = requests.post(
                f"http://127.0.0.1:{service.port}/api/v1/jobs",
                data=body(args.megabytes),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                timeout=300,
            )
            elapsed = time.perf_counter() - started
            growth = (memory_kb(pid, "VmHWM") - before) / 1024
            stored = sum(p.stat().st_size for p in (service.data / "rest" / "inbox").rglob("*.png"))
            print(
                f"upload of {args.megabytes} MB: HTTP {reply.status_code} in {elapsed:.2f} s, "
                f"{stored / (1 << 20):.1f} MB stored"
            )
            verdict = "met" if growth < 20 else "missed"
            print(f"serve's peak memory growth: {growth:.1f} MB (target: under 20 MB): {verdict}")
        finally:
            service.stop()


if __name__ == "__main__":
    main()
