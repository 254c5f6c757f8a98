"""Local connections under a link race (issue 25, item 9): while another thread swaps a folder
of the connection for a link out of its root and back, as fast as it can, no result is ever
written outside the root and no document is read from outside it; a FIFO put in place of a
document is refused at once instead of blocking the worker."""

from __future__ import annotations

import ctypes
import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cora_ocr.connections import LocalStorage, StorageError
from cora_ocr.connections.files import NotARegularFile
from tests.conftest import Pipeline

ROUNDS = 300


_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2


def exchange(first: Path, second: Path) -> None:
    """Swap two names in one step (Linux renameat2 RENAME_EXCHANGE): never a moment with
    neither."""
    if _libc.renameat2(AT_FDCWD, bytes(first), AT_FDCWD, bytes(second), RENAME_EXCHANGE):
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(first))


@contextmanager
def swapping(folder: Path, outside: Path) -> Iterator[list[int]]:
    """A thread that keeps exchanging `folder` with a link to `outside`, as fast as it can,
    as an attacker with write access to the connection would."""
    link = folder.with_name(".swap")
    os.symlink(outside, link)
    stop, swaps = threading.Event(), [0]

    def swap() -> None:
        while not stop.is_set():
            exchange(folder, link)
            swaps[0] += 1

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield swaps
    finally:
        stop.set()
        thread.join(10)
        if folder.is_symlink():
            exchange(folder, link)


def _rounds(action: Callable[[int], None]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for number in range(ROUNDS):
        try:
            action(number)
            kind = "done"
        except StorageError as exc:
            kind = "refused: link" if "never followed" in str(exc) else f"other: {exc}"
        except OSError as exc:
            kind = type(exc).__name__
        outcomes[kind] = outcomes.get(kind, 0) + 1
    return outcomes


def test_results_are_never_written_outside_the_root_through_a_swapped_folder(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "out").mkdir(parents=True)
    outside.mkdir()
    storage = LocalStorage("Share", root)
    # Resolved when the job was submitted, before anything was swapped (as the worker has it).
    resolved = storage.resolve("OutPutFile", "out", "result.xml")
    with swapping(root / "out", outside) as swaps:

        def deliver(number: int) -> None:
            target = resolved.with_name(f"result-{number}.xml")
            storage.put(io.BytesIO(b"result"), target, replace=True, tag=f"job{number}")

        outcomes = _rounds(deliver)
    assert swaps[0] > 50, "the race did not run"
    assert list(outside.iterdir()) == []  # nothing, ever, outside the root
    assert outcomes.get("done", 0) + outcomes.get("refused: link", 0) > 0, outcomes
    assert not any(kind.startswith("other") for kind in outcomes), outcomes


def test_documents_are_never_read_from_outside_the_root_through_a_swapped_folder(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "in").mkdir(parents=True)
    outside.mkdir()
    (outside / "scan.png").write_bytes(b"somebody else's secret")
    storage = LocalStorage("Share", root)
    target = storage.resolve("InputFile", "in", "scan.png")  # at submit time
    read: list[bytes] = []
    (root / "in" / "scan.png").write_bytes(b"the caller's scan")
    with swapping(root / "in", outside):

        def take(_number: int) -> None:
            with storage.open_read(target) as reader:
                read.append(reader.read())

        _rounds(take)
    assert b"somebody else's secret" not in read
    assert read, "nothing read at all"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_fifo_in_place_of_the_document_fails_the_job_at_once(pipeline: Pipeline) -> None:
    source = pipeline.source()
    job_id = pipeline.submit()
    source.unlink()
    os.mkfifo(source)  # nothing will ever write to it: opening it to read would block
    done = threading.Event()

    def drain() -> None:
        pipeline.drain()
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    assert done.wait(30), "the worker blocked on a FIFO"
    assert pipeline.status(job_id) == ("Failed", "InputFileNotFound")
    assert "not a regular file" in (pipeline.job(job_id).error_reason or "")


def test_a_link_in_place_of_the_document_is_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "in").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside / "secret.txt", root / "in" / "scan.png")
    storage = LocalStorage("Share", root)
    target = root.resolve() / "in" / "scan.png"  # as resolved before the link was put there
    with pytest.raises(StorageError, match="never followed"), storage.open_read(target):
        pass
    with pytest.raises(NotARegularFile):
        (root / "in" / "sub").mkdir()
        with storage.open_read(root.resolve() / "in" / "sub"):
            pass
