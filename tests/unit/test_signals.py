"""Stop signals are acted on outside the signal handler (cora_ocr/signals.py): a handler that
set an Event deadlocked when the main thread was inside the same Event's lock."""

from __future__ import annotations

import os
import queue
import signal
import threading

from cora_ocr.signals import StopSignals


def test_stop_runs_in_a_thread_of_its_own_once_per_signal() -> None:
    calls: queue.Queue[threading.Thread] = queue.Queue()
    before = signal.getsignal(signal.SIGUSR1)
    stops = StopSignals(lambda: calls.put(threading.current_thread()), [signal.SIGUSR1])
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        first = calls.get(timeout=10)
        os.kill(os.getpid(), signal.SIGUSR1)
        second = calls.get(timeout=10)
    finally:
        stops.restore()
    assert first is not threading.main_thread() and first.name == "stop-signals"
    assert second is first
    assert calls.empty()
    assert signal.getsignal(signal.SIGUSR1) == before
    assert signal.set_wakeup_fd(-1) == -1  # the wakeup socket is let go of
