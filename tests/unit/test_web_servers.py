"""`cora-ocr web`'s servers (host/production.py): each takes its processes, threads, socket,
certificate and deadlines from the settings through its public options; an unknown server is a
settings error naming the key. (Each runs behind nginx in tests/acceptance/test_nginx_front.py,
the default one; bench/run measures both.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cora_ocr.config import Settings, load_settings
from cora_ocr.errors import SettingsError
from cora_ocr.host.production import granian_server, gunicorn_options, reload_caveat


def test_granian_is_the_default_and_takes_the_settings(tmp_path: Path) -> None:
    assert Settings().web_server == "granian"
    settings = Settings(
        host="127.0.0.1", port=8123, web_workers=3, web_threads=2, header_timeout=7.0
    )
    server = granian_server(settings)
    assert (server.bind_addr, server.bind_port, server.bind_uds) == ("127.0.0.1", 8123, None)
    assert (server.workers, server.blocking_threads, server.websockets) == (3, 2, False)
    assert server.http1_settings.header_read_timeout == 7000
    assert server.respawn_failed_workers and server.workers_kill_timeout == 30
    assert server.log_access is False  # ours, one line a request (web/observe.py)

    # (HTTPS served by granian itself: tests/acceptance/test_web.py.)
    socket = tmp_path / "web.sock"
    on_socket = granian_server(Settings(web_socket=socket))
    assert on_socket.bind_uds == socket.resolve() and on_socket.uds_permissions == 0o770


def test_gunicorn_stays_one_setting_away() -> None:
    settings = load_settings(environ={"CORA_OCR_WEB_SERVER": "gunicorn"})
    assert settings.web_server == "gunicorn"
    options = gunicorn_options(settings)
    assert (options["worker_class"], options["timeout"]) == ("sync", 60)
    threaded = gunicorn_options(Settings(web_server="gunicorn", web_threads=4))
    assert threaded["worker_class"] == "gthread"


def test_an_unknown_server_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="web_server: 'uwsgi' is not one of gunicorn, granian"):
        load_settings(environ={"CORA_OCR_WEB_SERVER": "uwsgi"})


def test_live_values_of_gone_processes_are_forgotten_at_the_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """granian says nothing when a worker ends: GET /metrics forgets the live gauges of every
    process that no longer runs, and nothing of one that does, nor any counter."""
    from cora_ocr.metrics import MULTIPROC_ENV, forget_gone_processes

    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    gone, alive = 4_194_304 + 4321, os.getpid()  # over Linux's largest pid: never running
    names = [
        f"gauge_livesum_{gone}.db",
        f"gauge_liveall_{gone}.db",
        f"counter_{gone}.db",
        f"gauge_livesum_{alive}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    forget_gone_processes()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names[2:])


def test_web_says_when_a_reload_could_lose_calls(tmp_path: Path) -> None:
    """granian on TCP: one socket a process, whose queue a retiring process's close resets,
    unless the kernel hands it on (tcp_migrate_req); on a Unix socket, or under gunicorn, the
    processes share one socket."""
    migrate = tmp_path / "tcp_migrate_req"
    migrate.write_text("0\n")
    caveat = reload_caveat(Settings(), migrate)
    assert caveat is not None
    assert "web_socket" in caveat and "net.ipv4.tcp_migrate_req=1" in caveat
    assert reload_caveat(Settings(), tmp_path / "no such setting") == caveat  # an older kernel
    assert reload_caveat(Settings(web_socket=tmp_path / "web.sock"), migrate) is None
    assert reload_caveat(Settings(web_server="gunicorn"), migrate) is None
    migrate.write_text("1\n")
    assert reload_caveat(Settings(), migrate) is None
