"""Keeping `serve`'s background loops alive: its worker and its robot run in threads that
nobody else watches, so a thread that dies is restarted here, and said so."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cora_ocr.outages import Backoff

log = logging.getLogger(__name__)

# A loop that ran this long before dying was healthy: its next death starts the backoff anew.
HEALTHY_RUN_SECONDS = 60.0
# Deaths in a row (each within HEALTHY_RUN_SECONDS of its start) that make it "failing".
FAILING_AFTER = 5


class Supervised:
    """Runs `loop` in a thread until `stop` is called. A loop that raises, or returns while
    not asked to stop, is logged as an ERROR and started again after a capped exponential
    backoff. After FAILING_AFTER quick deaths in a row it is `failing`: a CRITICAL line says
    so (again at every further death) and `healthy` turns false until it runs well again."""

    def __init__(
        self,
        name: str,
        loop: Callable[[], object],
        halt: Callable[[], None],
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.loop, self.halt = loop, halt
        self.backoff = backoff or Backoff(base=1.0, cap=60.0)
        self.restarts = 0
        self.quick_deaths = 0
        self._running_since: float | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=name, daemon=True)

    @property
    def healthy(self) -> bool:
        """Running, and either not failing or running well again since."""
        since = self._running_since
        recovered = since is not None and time.monotonic() - since >= HEALTHY_RUN_SECONDS
        return self._thread.is_alive() and (self.quick_deaths < FAILING_AFTER or recovered)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self.halt()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            started = self._running_since = time.monotonic()
            try:
                self.loop()
            except BaseException as error:  # whatever escaped the loop: it must run again
                log.error("%s died; restarting it", self.name, exc_info=error)
            else:
                if self._stopping.is_set():
                    return
                log.error("%s stopped by itself; restarting it", self.name)
            self._died(time.monotonic() - started)

    def _died(self, ran_for: float) -> None:
        self._running_since = None
        self.restarts += 1
        if ran_for >= HEALTHY_RUN_SECONDS:
            self.quick_deaths = 0
            self.backoff.reset()
        self.quick_deaths += 1
        if self.quick_deaths >= FAILING_AFTER:
            log.critical(
                "%s keeps dying (%d times in a row, %d restarts in all): jobs are not moving;"
                " see the errors above",
                self.name,
                self.quick_deaths,
                self.restarts,
            )
        self._stopping.wait(self.backoff.next_delay())
