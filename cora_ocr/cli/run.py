"""Commands that run something: serve, web, worker, robot, demo."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from cora_ocr.cli.common import local_setup, log, open_store, services_for
from cora_ocr.config import Settings
from cora_ocr.errors import CoraError
from cora_ocr.signals import StopSignals


class Serve:
    """`cora-ocr serve`: the web service and one worker in one process, and one robot pool
    (processes of its own) for every profile the built-in robot reads, built once here. The
    worker and the pool run under supervisors that restart them if they die
    (`supervisors[...].healthy` says whether they are being kept alive); the pool restarts
    its processes itself."""

    def __init__(self, settings: Settings) -> None:
        from cora_ocr.host.app import create_app
        from cora_ocr.host.server import Deadlines, make_server
        from cora_ocr.services import build_services
        from cora_ocr.supervisor import Supervised

        self.settings = settings
        self.store = open_store(settings)
        self.services = build_services(settings, self.store)
        self.app = create_app(self.services)
        self.services.profiles.ensure_folders()
        self.worker = self.services.worker()
        self.robot = _embedded_robot(self.services)
        self.supervisors = [Supervised("worker", lambda: self.worker.run(), self.worker.stop)]
        if self.robot is not None:
            robot = self.robot
            self.supervisors.append(Supervised("robot", lambda: robot.run(), robot.stop))
        self.server = make_server(
            self.app,
            settings.host,
            settings.port,
            settings.threads,
            settings.max_request_bytes,
            Deadlines.from_settings(settings),
            settings.max_upload_bytes,
        )

    @property
    def url(self) -> str:
        host, port = self.server.effective_host, self.server.effective_port
        return f"http://{host}:{port}/SequenceServices/coraOcrIntegration_v1.0.0.asmx"

    def run(self) -> None:
        """Serve until the server is stopped (`stop`, or KeyboardInterrupt in the caller)."""
        database = self.store.engine.url.render_as_string(hide_password=True)
        print(f"cora-ocr serving {self.url} (database {database})", flush=True)
        for supervisor in self.supervisors:
            supervisor.start()
        self.server.run()

    def stop(self, loop_running: bool = True) -> None:
        from cora_ocr.host.server import stop_server

        stop_server(self.server, loop_running=loop_running)

    def close(self) -> None:
        """Stop the loops (each finishes what it holds) and release the database."""
        for supervisor in self.supervisors:
            supervisor.stop()
        self.services.connections.close()
        self.store.dispose()


def shared_metrics(settings: Settings) -> None:
    """prometheus_client's multiprocess mode for this process and those it starts (the web
    processes, the robot pool): PROMETHEUS_MULTIPROC_DIR, unless the operator set it, is
    `<data_dir>/metrics`, emptied of the values of processes that are gone. It must be set
    before prometheus_client is first imported (cora_ocr/metrics.py)."""
    import os
    import shutil
    import sys

    variable = "PROMETHEUS_MULTIPROC_DIR"
    assert "prometheus_client" not in sys.modules, "set before prometheus_client is imported"
    if os.environ.get(variable):
        Path(os.environ[variable]).mkdir(parents=True, exist_ok=True)
        return
    folder = settings.data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[variable] = str(folder)


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from cora_ocr.heap import give_back_large_buffers

    give_back_large_buffers()  # before the task threads start (cora_ocr/heap.py)
    settings = local_setup(settings)
    shared_metrics(settings)
    serve = Serve(settings)

    def stop(_signum: int, _frame: Any) -> None:
        # Unwinds the main thread wherever it is; the finally below then cleans up.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve.run()  # waitress's loop ends on KeyboardInterrupt itself: run() returns
    except KeyboardInterrupt:
        pass  # raised before or after the loop ran
    finally:
        log.info("stopping")
        serve.stop(loop_running=False)
        serve.close()
        log.info("stopped")
    return 0


def _embedded_robot(services: Any) -> Any:
    """One built-in robot pool for every profile it reads (`engine = "tesseract"`, the
    default; an "external" profile is left to its own robot), its processes reading them in
    turns; None (logged) if there is none or the engine cannot load here. Missing language
    data does not stop it: that profile's documents are refused with the reason, which their
    jobs record."""
    profiles = services.profiles.built_in()
    if not profiles:
        return None
    try:
        import tesserocr  # noqa: F401  (the engine the pool's processes load)
    except ImportError as exc:
        log.warning("no built-in OCR robot: %s", exc)
        return None
    from cora_ocr.robot.pool import RobotPool

    return RobotPool(profiles)


def cmd_robot(settings: Settings, args: argparse.Namespace) -> int:
    """The built-in robot for one profile: `robot_processes` processes under this one, which
    restarts them and judges how each stopped (robot/crashes.py), one process included."""
    from cora_ocr.profiles import Profiles
    from cora_ocr.robot.pool import RobotPool

    profile = Profiles.from_settings(settings).get(args.profile)
    if profile is None:
        raise CoraError(f"--profile: no OCR profile named {args.profile!r}")
    processes = args.processes or profile.robot_processes
    pool = RobotPool(profile, processes)
    StopSignals(pool.stop)
    print(f"cora-ocr robot watching {profile.input_dir} with {processes} processes", flush=True)
    pool.run(burst=args.burst)
    pool.stop()
    print("cora-ocr robot stopped", flush=True)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    import time as _time

    from cora_ocr.config import DEFAULT_CONNECTION
    from cora_ocr.demo import run_demo
    from cora_ocr.robot import samples
    from cora_ocr.robot.render import words_of_alto

    root = settings.effective_connections.get(DEFAULT_CONNECTION)
    if not isinstance(root, Path):
        raise CoraError(
            f"connections: the demo needs the {DEFAULT_CONNECTION} connection, a local folder"
        )
    folder = root / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    lines = samples.sample_lines(seed=int(_time.time()), count=6)
    document = samples.write_png(folder / f"demo-{_time.strftime('%Y%m%d-%H%M%S')}.png", lines)
    url = (
        args.url
        or f"http://{settings.host}:{settings.port}/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
    )
    print(f"submitted {document} to {url}", flush=True)
    result = run_demo(url, root, document, args.timeout)
    print(f"job {result.job_id}: {result.status} ({result.error_code})")
    if result.status != "Completed":
        return 1
    text = " ".join(words_of_alto(result.output.read_bytes()))
    print(f"recognised text:\n{text}")
    error = samples.character_error_rate(" ".join(lines), text)
    print(f"character error rate against the known text: {error:.2%}")
    return 0


def cmd_web(settings: Settings, _args: argparse.Namespace) -> int:
    from cora_ocr.errors import SettingsError
    from cora_ocr.host.production import WebServer, clear_stale_socket, reload_caveat

    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SettingsError("tls_cert: give both tls_cert and tls_key, or neither")
    if settings.web_socket:
        clear_stale_socket(settings.web_socket)
    if caveat := reload_caveat(settings):
        log.warning(caveat)
    shared_metrics(settings)
    open_store(settings).dispose()  # migrate once, before the workers fork
    scheme = "https" if settings.tls_cert else "http"
    where = (
        f"unix:{settings.web_socket}"
        if settings.web_socket
        else f"{scheme}://{settings.host}:{settings.port}"
    )
    print(
        f"cora-ocr web on {where}/SequenceServices/coraOcrIntegration_v1.0.0.asmx "
        f"({settings.web_server}, {settings.web_workers} processes x "
        f"{settings.web_threads} threads; "
        "nginx in front: `cora-ocr nginx-config`)",
        flush=True,
    )
    WebServer(settings).run()
    return 0


def cmd_nginx_config(settings: Settings, args: argparse.Namespace) -> int:
    from cora_ocr.host.nginx import NginxOptions, render

    options = NginxOptions(
        listen=args.listen or "",
        http_listen=args.http_listen or "",
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        upstream=args.upstream or "",
        user=args.user,
        run_dir=Path(args.run_dir) if args.run_dir else None,
        source=args.config or os.environ.get("CORA_OCR_CONFIG") or "the environment",
    )
    sys.stdout.write(render(settings, options))
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services:
        services.profiles.ensure_folders()
        worker = services.worker(**({"name": args.name} if args.name else {}))
        StopSignals(worker.stop)  # it finishes the step in hand, then returns
        print(f"cora-ocr worker {worker.name} started", flush=True)
        handled = worker.run(burst=args.burst)
    print(f"cora-ocr worker {worker.name} stopped after {handled} claims", flush=True)
    return 0
