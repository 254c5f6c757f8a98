"""The `cora-ocr` command. Each subcommand reads its input, calls a use case, prints."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from cora_ocr.config import Settings, load_settings
from cora_ocr.errors import CoraError
from cora_ocr.report import describe_job
from cora_ocr.statuses import JobState
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade

log = logging.getLogger("cora_ocr")


def _open_store(settings: Settings) -> Store:
    store = Store(settings.effective_database_url)
    upgrade(store.engine)
    return store


def local_setup(settings: Settings) -> Settings:
    """`serve` on a loopback address is the zero-setup local mode: unless the settings say
    otherwise, callers on this machine need no credentials and plain HTTP is accepted."""
    if not settings.local_setup:
        return settings
    settings = dataclasses.replace(
        settings,
        allow_anonymous=True if settings.allow_anonymous is None else settings.allow_anonymous,
        require_https=False if settings.require_https is None else settings.require_https,
    )
    log.warning(
        "local setup on %s: anonymous=%s, plain HTTP=%s",
        settings.host,
        settings.allow_anonymous,
        not settings.require_https,
    )
    return settings


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    settings = local_setup(settings)
    from cora_ocr.services import build_services
    from cora_ocr.web.app import create_app
    from cora_ocr.web.server import make_server, stop_server

    store = _open_store(settings)
    services = build_services(settings, store)
    app = create_app(services)
    services.profiles.ensure_folders()
    worker = services.worker()
    worker_thread = threading.Thread(target=worker.run, name="cora-ocr-worker", daemon=True)
    robot = _embedded_robot(services)
    robot_thread = (
        threading.Thread(target=robot.run, name="cora-ocr-robot", daemon=True) if robot else None
    )
    server = make_server(
        app, settings.host, settings.port, settings.threads, settings.max_request_bytes
    )
    host, port = server.effective_host, server.effective_port

    def stop(_signum: int, _frame: Any) -> None:
        # Unwinds the main thread wherever it is; the finally below then cleans up.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        print(
            f"cora-ocr serving http://{host}:{port}/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
            f" (database {store.engine.url.render_as_string(hide_password=True)})",
            flush=True,
        )
        worker_thread.start()
        if robot_thread is not None:
            robot_thread.start()
        server.run()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        stop_server(server, loop_running=False)
        worker.stop()
        if worker_thread.is_alive():
            worker_thread.join()
        if robot is not None and robot_thread is not None:
            robot.stop()
            if robot_thread.is_alive():
                robot_thread.join()
            robot.close()
        store.dispose()
    return 0


def _embedded_robot(services: Any) -> Any:
    """The built-in robot for the Default profile, or None (logged) if it cannot run here."""
    from cora_ocr.profiles import DEFAULT_PROFILE
    from cora_ocr.robot.engine import EngineUnavailable
    from cora_ocr.robot.hotfolder import Robot

    profile = services.profiles.get(DEFAULT_PROFILE)
    if profile is None:
        return None
    try:
        return Robot(profile)
    except (EngineUnavailable, ImportError) as exc:
        log.warning("no built-in OCR robot: %s", exc)
        return None


def cmd_robot(settings: Settings, args: argparse.Namespace) -> int:
    from cora_ocr.profiles import Profiles
    from cora_ocr.robot.hotfolder import Robot

    profile = Profiles.from_settings(settings).get(args.profile)
    if profile is None:
        raise CoraError(f"--profile: no OCR profile named {args.profile!r}")
    profile.input_dir.mkdir(parents=True, exist_ok=True)
    profile.output_dir.mkdir(parents=True, exist_ok=True)
    robot = Robot(profile)

    def stop(_signum: int, _frame: Any) -> None:
        robot.stop()  # finishes the document in hand

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"cora-ocr robot watching {profile.input_dir}", flush=True)
    handled = robot.run(burst=args.burst)
    robot.close()
    print(f"cora-ocr robot stopped after {handled} documents ({robot.pages_done} pages)")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    import time as _time

    from cora_ocr.config import DEFAULT_CONNECTION
    from cora_ocr.demo import run_demo
    from cora_ocr.robot import samples
    from cora_ocr.robot.render import words_of_alto

    root = settings.effective_connections.get(DEFAULT_CONNECTION)
    if root is None:
        raise CoraError(f"connections: the demo needs the {DEFAULT_CONNECTION} connection")
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
    from cora_ocr.web.production import WebServer

    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SettingsError("tls_cert: give both tls_cert and tls_key, or neither")
    _open_store(settings).dispose()  # migrate once, before the workers fork
    scheme = "https" if settings.tls_cert else "http"
    print(
        f"cora-ocr web on {scheme}://{settings.host}:{settings.port}"
        "/SequenceServices/coraOcrIntegration_v1.0.0.asmx "
        f"({settings.web_workers} processes x {settings.web_threads} threads)",
        flush=True,
    )
    WebServer(settings).run()
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    services.profiles.ensure_folders()
    worker = services.worker(**({"name": args.name} if args.name else {}))

    def stop(_signum: int, _frame: Any) -> None:
        worker.stop()  # finishes the step in hand, then returns

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"cora-ocr worker {worker.name} started", flush=True)
    handled = worker.run(burst=args.burst)
    services.store.dispose()
    print(f"cora-ocr worker {worker.name} stopped after {handled} claims", flush=True)
    return 0


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    store = _open_store(settings)
    store.dispose()
    print("database is at the latest revision")
    return 0


def _services(settings: Settings) -> Any:
    from cora_ocr.services import build_services

    return build_services(settings, _open_store(settings))


def cmd_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    jobs = services.jobs
    state = JobState(args.state) if args.state else None
    print(f"{'ID':>12}  {'STATE':<18} {'ERROR':<22} {'CREATED':<25} PROFILE")
    for job in jobs.list(state, args.limit):
        print(
            f"{job.id:>12}  {job.state:<18} {job.error_code:<22} "
            f"{job.created_at.isoformat(timespec='seconds'):<25} {job.ocr_profile}"
        )
    jobs.store.dispose()
    return 0


def cmd_jobs_show(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    jobs = services.jobs
    job = jobs.show(args.id)
    print("\n".join(describe_job(job)))
    jobs.store.dispose()
    return 0


def cmd_jobs_abort(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    previous = services.jobs.abort(args.id)
    print(f"job {args.id} aborted (was {previous.wire.value})")
    return 0


def cmd_jobs_retry(settings: Settings, args: argparse.Namespace) -> int:
    services = _services(settings)
    services.jobs.retry(args.id)
    print(f"job {args.id} queued again")
    return 0


def cmd_profiles_list(settings: Settings, _args: argparse.Namespace) -> int:
    from cora_ocr.profiles import Profiles

    for profile in Profiles.from_settings(settings).all():
        print(
            f"{profile.name}: {profile.output_format} ({profile.result_extension}), "
            f"languages {','.join(profile.languages)}\n  input  {profile.input_dir}\n"
            f"  output {profile.output_dir}"
        )
    return 0


def cmd_profiles_check(settings: Settings, _args: argparse.Namespace) -> int:
    from cora_ocr.profiles import Profiles

    failed = 0
    for profile in Profiles.from_settings(settings).all():
        problems = profile.problems()
        failed += bool(problems)
        print(f"{profile.name}: {'; '.join(problems) if problems else 'ok'}")
    return 1 if failed else 0


def _licensing(settings: Settings) -> Any:
    return _services(settings).licensing


def cmd_licenses_create(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    expires = dt.datetime.fromisoformat(args.expires).astimezone(dt.UTC) if args.expires else None
    license_id = _licensing(settings).create_license(
        args.name, args.region, args.requests_per_hour, args.pages_per_hour, expires
    )
    print(license_id)
    return 0


def cmd_licenses_list(settings: Settings, _args: argparse.Namespace) -> int:
    print(f"{'LICENSE ID':<18} {'REGION':<10} {'STATUS':<10} {'REQ/H':>7} {'PAGES/H':>8}  NAME")
    for lic in _licensing(settings).licenses():
        status = "suspended" if lic.suspended else "active"
        print(
            f"{lic.license_id:<18} {lic.region:<10} {status:<10} {lic.hourly_request_quota:>7}"
            f" {lic.hourly_page_quota:>8}  {lic.name}"
        )
    return 0


def cmd_licenses_disable(settings: Settings, args: argparse.Namespace) -> int:
    _licensing(settings).set_license_suspended(args.license_id, True)
    print(f"license {args.license_id} suspended")
    return 0


def cmd_licenses_usage(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=args.hours)
    print(f"{'HOUR (UTC)':<17} {'APP':<20} {'REQUESTS':>9} {'JOBS':>6} {'PAGES':>6}")
    for name, hint, hour, requests, jobs, pages in _licensing(settings).usage(
        args.license_id, since
    ):
        print(
            f"{hour:%Y-%m-%d %H:00} {name + ' (…' + hint + ')':<20} "
            f"{requests:>9} {jobs:>6} {pages:>6}"
        )
    return 0


def cmd_apps_create(settings: Settings, args: argparse.Namespace) -> int:
    print(_licensing(settings).create_app(args.license_id, args.name))
    return 0


def cmd_apps_disable(settings: Settings, args: argparse.Namespace) -> int:
    _licensing(settings).set_app_enabled(args.license_id, args.app_id, False)
    print("app disabled")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cora-ocr", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (default: $CORA_OCR_CONFIG)")
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service on the embedded defaults")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    web = commands.add_parser("web", help="the production web server (gunicorn)")
    web.add_argument("--host")
    web.add_argument("--port", type=int)
    web.set_defaults(func=cmd_web)

    worker = commands.add_parser("worker", help="run a worker against the configured database")
    worker.add_argument("--burst", action="store_true", help="stop when no job is due")
    worker.add_argument("--name", help="worker name shown in job histories")
    worker.set_defaults(func=cmd_worker)

    licenses = commands.add_parser("licenses", help="licenses").add_subparsers(
        dest="licenses_command", required=True
    )
    create = licenses.add_parser("create", help="create a license; prints its License ID")
    create.add_argument("name")
    create.add_argument("--region", help="default: this deployment's region")
    create.add_argument("--requests-per-hour", type=int, default=10_000)
    create.add_argument("--pages-per-hour", type=int, default=1_000)
    create.add_argument("--expires", help="ISO date-time, e.g. 2027-12-31T23:59:59+00:00")
    create.set_defaults(func=cmd_licenses_create)
    licenses.add_parser("list", help="all licenses").set_defaults(func=cmd_licenses_list)
    disable = licenses.add_parser("disable", help="suspend a license")
    disable.add_argument("license_id")
    disable.set_defaults(func=cmd_licenses_disable)
    usage = licenses.add_parser("usage", help="requests, jobs and pages per app and hour")
    usage.add_argument("license_id")
    usage.add_argument("--hours", type=int, default=24)
    usage.set_defaults(func=cmd_licenses_usage)

    apps = commands.add_parser("apps", help="apps of a license").add_subparsers(
        dest="apps_command", required=True
    )
    app_create = apps.add_parser("create", help="create an app; prints its App ID (once)")
    app_create.add_argument("license_id")
    app_create.add_argument("name")
    app_create.set_defaults(func=cmd_apps_create)
    app_disable = apps.add_parser("disable", help="disable an app")
    app_disable.add_argument("license_id")
    app_disable.add_argument("app_id")
    app_disable.set_defaults(func=cmd_apps_disable)

    robot = commands.add_parser("robot", help="run the built-in OCR robot for one profile")
    robot.add_argument("--profile", default="Default")
    robot.add_argument("--burst", action="store_true", help="stop when the input folder is empty")
    robot.set_defaults(func=cmd_robot)

    demo = commands.add_parser("demo", help="OCR a generated document through a running service")
    demo.add_argument("--url", help="service URL (default: from host and port settings)")
    demo.add_argument("--timeout", type=int, default=120)
    demo.set_defaults(func=cmd_demo)

    profiles = commands.add_parser("profiles", help="OCR profiles").add_subparsers(
        dest="profiles_command", required=True
    )
    profiles.add_parser("list", help="configured profiles").set_defaults(func=cmd_profiles_list)
    profiles.add_parser("check", help="folders exist and are writable").set_defaults(
        func=cmd_profiles_check
    )

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="create or migrate the database").set_defaults(
        func=cmd_db_upgrade
    )

    jobs = commands.add_parser("jobs", help="inspect jobs").add_subparsers(
        dest="jobs_command", required=True
    )
    listing = jobs.add_parser("list", help="the newest jobs")
    listing.add_argument("--state", choices=[state.value for state in JobState])
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_jobs_list)
    show = jobs.add_parser("show", help="one job with its full history")
    show.add_argument("id", type=int)
    show.set_defaults(func=cmd_jobs_show)
    abort = jobs.add_parser("abort", help="abort a job that is not final")
    abort.add_argument("id", type=int)
    abort.set_defaults(func=cmd_jobs_abort)
    retry = jobs.add_parser("retry", help="queue a Failed job again")
    retry.add_argument("id", type=int)
    retry.set_defaults(func=cmd_jobs_retry)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings(
            args.config, host=getattr(args, "host", None), port=getattr(args, "port", None)
        )
        return int(args.func(settings, args))
    except CoraError as exc:
        print(f"cora-ocr: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
