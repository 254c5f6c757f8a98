"""The acceptance tier's fixtures: the app on a real HTTP server on loopback (`live_server`,
`strict`, and `running_service` for settings of a test's own), and the environments of the
processes users run (`cli_env`, `web_env`, `service`). Every test here is marked `live`
(tests/conftest.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cora_ocr.config import Settings
from cora_ocr.host.app import create_app
from cora_ocr.host.server import make_server, stop_server
from cora_ocr.metrics import Metrics
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services
from cora_ocr.store import Store
from cora_ocr.wakeup import LocalWakeups
from tests.conftest import (
    LiveServer,
    Running,
    RunService,
    Strict,
    make_store_url,
    process_app,
    service_runner,
    strict_services,
)
from tests.support.factories import ManualClock
from tests.support.processes import Service, free_port


@pytest.fixture(scope="session")
def live_server(
    settings: Settings, store: Store, process_metrics: Metrics, process_wakeups: LocalWakeups
) -> Iterator[LiveServer]:
    app = process_app(settings, store, process_metrics, process_wakeups)
    server = make_server(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=server.run, name="cora-ocr-test-server", daemon=True)
    thread.start()
    yield LiveServer(app, f"http://127.0.0.1:{server.effective_port}")
    stop_server(server, loop_running=True)
    thread.join(timeout=10)


@pytest.fixture
def running_service(services: Services) -> Iterator[RunService]:
    """The service on settings of a test's own, on a real HTTP server on loopback
    (tests/conftest.py: service_runner)."""
    yield from service_runner(services, _start)


def _start(services: Services, clock: ManualClock) -> Running:
    app = create_app(services, clock)
    server = make_server(app, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}{SERVICE_PATH}"

    def stop() -> None:
        if thread.is_alive():
            stop_server(server, loop_running=True)
            thread.join(timeout=10)

    return Running(services, app, clock, url, stop)


@pytest.fixture
def strict(services: Services) -> Iterator[Strict]:
    built = strict_services(services)
    clock = built.clock
    assert isinstance(clock, ManualClock)
    running = _start(built, clock)
    yield Strict(built, running.app, clock, running.url)
    running.stop()


@pytest.fixture
def cli_env(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    url, schema = make_store_url(backend, tmp_path)
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(tmp_path / "data"),
        "CORA_OCR_DATABASE_URL": url,
        "CORA_OCR_PORT": str(free_port()),
    }
    yield env
    if schema is not None:
        schema.drop()


@pytest.fixture
def web_env(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    url, schema = make_store_url(backend, tmp_path)
    yield {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(tmp_path / "data"),
        "CORA_OCR_DATABASE_URL": url,
        "CORA_OCR_PORT": str(free_port()),
        "CORA_OCR_WEB_WORKERS": "2",
    }
    if schema is not None:
        schema.drop()


@pytest.fixture
def service(backend: str, tmp_path: Path) -> Iterator[Service]:
    url, schema = make_store_url(backend, tmp_path)
    running = Service(tmp_path, url)
    yield running
    running.stop()
    if schema is not None:
        schema.drop()
