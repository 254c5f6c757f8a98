"""Sweeping robot hot folders: files that belong to no live job, once old enough.

Every file a job has in a hot folder starts (after a leading dot, for hidden ones) with the
stem of the job's robot file name, then a dot or nothing: the document, its temp file, the
result, the `.error`, the progress file, a robot's own temp files. A file that matches no
live job's stem is a stray: a result that came after its job ended, a document left by a
crash, something dropped there by hand. It is removed once older than the sweep age (the age
guards files a job has just placed, before the job was read as live).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterator
from pathlib import Path, PurePath

from cora_ocr.profiles import Profile

log = logging.getLogger(__name__)


def _belongs(name: str, stems: Collection[str]) -> bool:
    bare = name[1:] if name.startswith(".") else name
    if bare in stems:
        return True
    dot = bare.find(".")
    while dot != -1:
        if bare[:dot] in stems:
            return True
        dot = bare.find(".", dot + 1)
    return False


def strays(folder: Path, stems: Collection[str], now: float, age: float) -> Iterator[Path]:
    """Files (and links) of `folder` older than `age` seconds at `now` that belong to no stem."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # a missing folder holds nothing to sweep
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) or _belongs(entry.name, stems):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime >= age:
                yield Path(entry.path)
        except OSError:
            continue  # gone meanwhile


def sweep(profiles: list[Profile], live_names: Collection[str], now: float, age: float) -> int:
    """Remove the strays of every profile's folders; a log line for each. Stems of every
    live job are kept in every folder: two profiles may share folders."""
    stems = {PurePath(name).stem for name in live_names}
    folders = dict.fromkeys(
        folder for profile in profiles for folder in (profile.input_dir, profile.output_dir)
    )
    removed = 0
    for folder in folders:
        for path in strays(folder, stems, now, age):
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # another worker swept it
            except OSError as exc:
                log.warning("cannot remove stray robot file %s: %s", path, exc.strerror or exc)
                continue
            removed += 1
            log.info(
                "removed %s: it belongs to no live job and is older than %.0f s",
                path,
                age,
                extra={"robot_file": str(path)},
            )
    return removed
