"""Stop requests from SIGTERM and SIGINT, acted on outside the signal handler.

A Python signal handler runs in the main thread between two of its bytecodes, possibly while
that thread holds a lock. A handler that sets a `threading.Event` deadlocks when the main
thread was inside `wait()` or `clear()` of the same event (their lock is not reentrant; see
cpython#126434 for the same trap in multiprocessing): a robot process then ignored SIGTERM
until its pool killed it. So the handler here does nothing itself. The interpreter's C-level
handler writes the signal's number to a socket (`signal.set_wakeup_fd`), and a thread reading
the other end calls `stop` as ordinary code.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any


class StopSignals:
    """Calls `stop` from a thread of its own each time one of `signals` arrives. Create it
    in the main thread; `restore` puts the previous handlers back."""

    def __init__(
        self,
        stop: Callable[[], None],
        signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    ) -> None:
        self.stop = stop
        self.wanted = {int(signum) for signum in signals}
        self._receive, self._send = socket.socketpair()
        self._send.setblocking(False)  # set_wakeup_fd requires it; a full buffer drops bytes
        self._previous_fd = signal.set_wakeup_fd(self._send.fileno(), warn_on_full_buffer=False)
        # A Python-level handler, so that the C-level one runs and writes the wakeup byte.
        self._previous = {signum: signal.signal(signum, _noted) for signum in self.wanted}
        threading.Thread(target=self._listen, name="stop-signals", daemon=True).start()

    def _listen(self) -> None:
        with self._receive:
            while received := self._receive.recv(64):  # b"" once `restore` closed `_send`
                for _ in range(sum(byte in self.wanted for byte in received)):
                    self.stop()

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._send.close()


def _noted(_signum: int, _frame: Any) -> None:
    """The Python-level handler does nothing: the wakeup socket has the signal already."""
