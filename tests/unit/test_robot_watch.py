"""Issue 37: whether a robot reads a profile's folders, as the folders tell it
(cora_ocr/robot_watch.py): documents waiting past the claim timeout with no robot's pulse
make a profile silent; a pulse, or nothing waiting, does not."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cora_ocr.profiles import CLAIMS, Profile
from cora_ocr.robot_watch import ROBOT_SEEN_SECONDS, watch


def profile(tmp_path: Path) -> Profile:
    made = Profile("Scanner", tmp_path / "in", tmp_path / "out", claim_timeout_seconds=10)
    made.input_dir.mkdir()
    made.output_dir.mkdir()
    return made


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_nothing_waiting_is_never_silent(tmp_path: Path) -> None:
    scanner = profile(tmp_path)
    assert watch(scanner).state == "unknown"
    (scanner.input_dir / ".hidden.part").write_bytes(b"x")  # not a document
    aged(scanner.input_dir / ".hidden.part", 60)
    assert watch(scanner).state == "unknown"


def test_a_document_waiting_past_the_claim_timeout_with_no_pulse_is_silence(
    tmp_path: Path,
) -> None:
    scanner = profile(tmp_path)
    (scanner.input_dir / "1-abcdef12-scan.pdf").write_bytes(b"%PDF")
    assert watch(scanner).state == "unknown"  # not yet past the claim timeout
    aged(scanner.input_dir / "1-abcdef12-scan.pdf", 11)
    seen = watch(scanner)
    assert (seen.state, seen.waiting, seen.silent) == ("silent", 1, True)
    assert seen.document() == {"state": "silent", "waiting": 1}


def test_a_built_in_robots_pulse_is_a_robot_reading_even_mid_document(tmp_path: Path) -> None:
    scanner = profile(tmp_path)
    aged(_touch(scanner.input_dir / "2-abcdef12-long.pdf"), 600)  # behind a long one
    owner = scanner.input_dir / CLAIMS / "host-123-abcdef"
    owner.mkdir(parents=True)
    assert watch(scanner).state == "seen"
    aged(owner, 11)  # the pulse stopped: the process is gone
    assert watch(scanner).state == "silent"
    aged(owner, ROBOT_SEEN_SECONDS + 1)
    (scanner.input_dir / "2-abcdef12-long.pdf").unlink()
    assert watch(scanner).state == "stale"  # seen once, long ago; nothing waits


def _touch(path: Path) -> Path:
    path.write_bytes(b"%PDF")
    return path
