"""Documents that kill robots (issues 24 and 37), with real `cora-ocr robot` pools: a document
whose reading killed two processes (their pool living on) is read once more alone, and refused
with the cause only if that read dies too, instead of going round again; a process under
`robot_memory_mb` that meets a page too big for it does not take the machine with it; the
render of an aborted job stops at once. The pool carries on each time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from cora_ocr.profiles import CLAIMS, Profile
from cora_ocr.robot import samples
from cora_ocr.robot.crashes import HOST
from tests.support.corpus import WIDE, a4, encode, text_pdf
from tests.support.processes import drop, start_robot
from tests.support.waiting import wait_until

# A poster: one page of 150 Mpx at 100 dpi (8800 pt square) with two lines of text.
# A born-digital poster: OCRed only with skip_text = "never" (its text layer is read in
# milliseconds otherwise, which these tests are not about).
POSTER = text_pdf(WIDE[:2], 8800, 8800, 120)


def pool(tmp_path: Path, processes: int, **options: object) -> tuple[Path, Profile]:
    """A settings file with one profile, and that profile."""
    folders = tmp_path / "robot"
    settings = {"dpi": 100, "robot_processes": processes, "claim_timeout_seconds": 5, **options}
    lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
    config = tmp_path / "cora.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n[profiles.Default]\n'
        f'input_dir = "{folders}/in"\noutput_dir = "{folders}/out"\n{lines}'
    )
    profile = Profile("Default", folders / "in", folders / "out", dpi=100)
    profile.input_dir.mkdir(parents=True)
    profile.output_dir.mkdir(parents=True)
    return config, profile


class Run:
    """A `cora-ocr robot` pool in a process group of its own; `log` once it stopped."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process, self.log = process, ""


@contextlib.contextmanager
def running(config: Path) -> Iterator[Run]:
    run = Run(start_robot(config, new_session=True))
    try:
        yield run
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signal.SIGTERM)
        try:
            _out, run.log = run.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.process.pid, signal.SIGKILL)
            _out, run.log = run.process.communicate()


def holder(profile: Profile, name: str) -> int | None:
    """The PID of the robot process that holds `name` now, if one does."""
    for claim in (profile.input_dir / CLAIMS).glob(f"*/{name}"):
        return int(claim.parent.name.rsplit("-", 2)[1])
    return None


def next_reader(
    profile: Profile, name: str, killed: list[int], last: tuple[int, int] | None
) -> tuple[int, tuple[int, int]]:
    """The PID of the process that began reading `name` after the reading whose progress file
    was `last` (inode and time), and this reading's: one that holds the document and has
    started its page, never one caught in the moment it hands the document on (taking it
    back from a dead process, queuing it to be read alone). A kill there is a death the
    document did not cause, and the one before it would never be counted."""
    found: list[tuple[int, tuple[int, int]]] = []

    def started() -> bool:
        try:
            progress = profile.progress_path(name).stat()
        except FileNotFoundError:
            return False
        reading = (progress.st_ino, progress.st_mtime_ns)
        pid = holder(profile, name)
        if pid is None or pid in killed or reading == last:
            return False
        found.append((pid, reading))
        return True

    wait_until(started, 60, "a process reading it")
    return found[-1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        return os.waitpid(pid, os.WNOHANG) == (0, 0)  # only for our own children
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def then_a_plain_page_is_read(profile: Profile, number: int) -> None:
    """The pool carries on: the next document gets its result."""
    name = f"{number}-00000099-next.png"
    drop(profile.input_dir / name, lambda path: samples.write_png(path, WIDE))
    wait_until(profile.result_path(name).exists, 120, "the next document's result")


def test_a_document_whose_reading_killed_two_robot_processes_is_read_alone_then_refused(
    tmp_path: Path,
) -> None:
    config, profile = pool(tmp_path, 2)
    name = "21-0000000f-heavy.png"
    with running(config):
        wait_until(lambda: len(list((profile.input_dir / CLAIMS).glob("*"))) == 2, 60, "2 robots")
        drop(profile.input_dir / name, lambda path: path.write_bytes(encode(a4(WIDE, 600), "PNG")))
        killed: list[int] = []
        last = None
        for turn in range(3):  # two pool processes, then the lone re-read
            pid, last = next_reader(profile, name, killed, last)
            reading_alone = [
                (owner / ".alone").exists()
                for owner in profile.claims_dir.iterdir()
                if owner.name.startswith(f"{HOST}-{pid}-")
            ]
            assert reading_alone == [turn == 2]
            os.kill(pid, signal.SIGKILL)  # as the OOM killer does, mid-page
            killed.append(pid)
        wait_until(profile.error_path(name).exists, 60, "the document refused")
        reason = profile.error_path(name).read_text()
        assert "died twice while reading this document, and once more reading it alone" in reason
        assert "(killed by signal SIGKILL" in reason, reason
        assert reason.startswith("OCR failed: ")  # a processing error, not the document's type
        assert not profile.result_path(name).exists() and holder(profile, name) is None
        assert not (profile.input_dir / name).exists()  # not handed on again
        assert "read once more, alone" in profile.notes_path(name).read_text()
        then_a_plain_page_is_read(profile, 22)


def test_a_document_whose_holders_were_killed_twice_completes_when_read_alone(
    tmp_path: Path,
) -> None:
    """The document was healthy: the processes were killed from outside while it was read."""
    config, profile = pool(tmp_path, 2)
    name = "27-00000013-healthy.png"
    with running(config):
        wait_until(lambda: len(list((profile.input_dir / CLAIMS).glob("*"))) == 2, 60, "2 robots")
        drop(profile.input_dir / name, lambda path: path.write_bytes(encode(a4(WIDE, 600), "PNG")))
        killed: list[int] = []
        last = None
        for _ in range(2):
            pid, last = next_reader(profile, name, killed, last)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        wait_until(profile.result_path(name).exists, 120, "its result, read alone")
    assert not profile.error_path(name).exists()
    assert "read once more, alone" in profile.notes_path(name).read_text()
    assert not profile.alone_dir.exists() or not any(profile.alone_dir.iterdir())


def test_a_page_too_big_for_the_robots_memory_ends_the_document_not_the_machine(
    tmp_path: Path,
) -> None:
    # 150 Mpx at 100 dpi fits the page budget set here, but Tesseract needs about 1.7 GB
    # for it: more than the 1 GiB each process may have.
    config, profile = pool(
        tmp_path, 2, max_page_megapixels=200, robot_memory_mb=1024, skip_text='"never"'
    )
    name = "23-00000011-poster.pdf"
    with running(config) as run:
        drop(profile.input_dir / name, lambda path: path.write_bytes(POSTER))
        wait_until(profile.error_path(name).exists, 120, "the document refused")
        then_a_plain_page_is_read(profile, 24)
    # Leptonica's allocations fail and Tesseract dies of it (SIGSEGV), in one process, then
    # in the one that took the document back, then in the one that read it alone: then it is
    # refused, with the cause.
    reason = profile.error_path(name).read_text()
    assert reason.startswith(
        "OCR failed: robot processes died twice while reading this document, and once more "
        "reading it alone (killed by signal SIG"
    ), reason
    assert "under robot_memory_mb = 1024" in reason
    assert run.log.count("died (exit code") == 2, run.log
    assert run.process.returncode == 0


def test_the_render_of_an_aborted_job_stops_at_once(tmp_path: Path) -> None:
    # One page of 150 Mpx: about 6 s in Tesseract, one call that nothing interrupts. Two
    # processes: a pool (one process alone runs in the command's own process).
    config, profile = pool(
        tmp_path, 2, max_page_megapixels=200, robot_memory_mb=0, skip_text='"never"'
    )
    name = "25-00000012-poster.pdf"
    with running(config) as run:
        drop(profile.input_dir / name, lambda path: path.write_bytes(POSTER))
        wait_until(lambda: holder(profile, name) is not None, 60, "the document claimed")
        pid = holder(profile, name)
        assert pid is not None
        time.sleep(1.0)  # inside the page by now
        aborted = time.monotonic()
        profile.cleanup(name, 25)  # what the worker does when the job is aborted or deleted
        wait_until(lambda: not alive(pid), 3, "the reading process stops")
        stopped = time.monotonic() - aborted
        then_a_plain_page_is_read(profile, 26)
    print(f"stopped {stopped:.2f} s after the abort")
    assert "25-00000012-poster.pdf was taken away" in run.log
    assert "died" not in run.log  # replaced as planned, not as a failure
    assert not profile.result_path(name).exists() and not profile.error_path(name).exists()
    assert run.process.returncode == 0
