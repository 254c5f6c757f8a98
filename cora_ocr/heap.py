"""glibc's allocator, told through its public knob (mallopt) to give large buffers back.

A request body of a few MB is read, decoded and parsed by whichever of `serve`'s task threads
takes it. glibc gives each thread an arena of its own, and once a large block has been freed it
raises its threshold for serving large blocks from the arena instead of mmap, so each thread's
arena keeps its largest request's memory for good: `serve` grew by 15 MB over bench/hostile.py's
requests. With a fixed mmap threshold every block of 128 KiB or more is mapped and unmapped on
its own, and two arenas serve every thread; the growth measured falls to 8 MB (the peak of the
largest single request). Python's own small-object allocator is not affected."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3  # <malloc.h>
M_ARENA_MAX = -8
MMAP_FROM = 128 * 1024  # glibc's own starting threshold, now kept
ARENAS = 2


def give_back_large_buffers() -> bool:
    """True if glibc took the settings (False elsewhere: musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    took = bool(mallopt(M_MMAP_THRESHOLD, MMAP_FROM)) and bool(mallopt(M_ARENA_MAX, ARENAS))
    if not took:
        log.debug("mallopt refused the heap settings")
    return took
