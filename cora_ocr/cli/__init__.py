"""cora-ocr: a self-hosted replacement for Cora SeQuence's OCR integration service
(coraOcrIntegration_v1.0.0.asmx). `cora-ocr serve` runs everything on this machine with the
embedded defaults; settings come from --config FILE or CORA_OCR_* variables
(docs/reference/settings.md). Each command's --help says what it takes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cora_ocr import logs
from cora_ocr.cli import admin, run
from cora_ocr.config import load_settings
from cora_ocr.errors import CoraError
from cora_ocr.statuses import JobState, Priority

PRIORITIES = [priority.name for priority in Priority]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cora-ocr", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (default: $CORA_OCR_CONFIG)")
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service on the embedded defaults")
    serve.add_argument("--host", help="address to listen on (default: the host setting)")
    serve.add_argument("--port", type=int, help="port to listen on (default: the port setting)")
    serve.set_defaults(func=run.cmd_serve)

    web = commands.add_parser("web", help="the production web server (gunicorn)")
    web.add_argument("--host", help="address to listen on (default: the host setting)")
    web.add_argument("--port", type=int, help="port to listen on (default: the port setting)")
    web.set_defaults(func=run.cmd_web)

    nginx = commands.add_parser(
        "nginx-config", help="print nginx's configuration for the front of `web`"
    )
    nginx.add_argument("--listen", help="HOST:PORT or PORT (default: 443 with TLS, 80 without)")
    nginx.add_argument("--http-listen", help="with TLS: plain HTTP's HOST:PORT (default: 80)")
    nginx.add_argument("--tls-cert", help="certificate chain (PEM)")
    nginx.add_argument("--tls-key", help="its private key (PEM)")
    nginx.add_argument("--upstream", help="HOST:PORT or unix:PATH (default: host and port)")
    nginx.add_argument("--user", default="www-data", help="nginx's worker user")
    nginx.add_argument(
        "--run-dir", help="pid, logs and buffered bodies here (default: Debian's places)"
    )
    nginx.set_defaults(func=run.cmd_nginx_config)

    worker = commands.add_parser("worker", help="run a worker against the configured database")
    worker.add_argument("--burst", action="store_true", help="stop when no job is due")
    worker.add_argument("--name", help="worker name shown in job histories")
    worker.set_defaults(func=run.cmd_worker)

    licenses = commands.add_parser("licenses", help="licenses").add_subparsers(
        dest="licenses_command", required=True
    )
    create = licenses.add_parser("create", help="create a license; prints its License ID")
    create.add_argument("name")
    create.add_argument("--region", help="default: this deployment's region")
    create.add_argument("--requests-per-hour", type=int, default=10_000)
    create.add_argument("--pages-per-hour", type=int, default=1_000)
    create.add_argument("--expires", help="ISO date-time, e.g. 2027-12-31T23:59:59+00:00")
    create.add_argument("--monthly-pages", type=int, default=0, help="pages a month (0: none)")
    create.add_argument(
        "--max-priority",
        choices=PRIORITIES,
        default="high",
        help="the highest priority its jobs may ask for (default: high)",
    )
    create.set_defaults(func=admin.cmd_licenses_create)
    update = licenses.add_parser(
        "update", help="change a license's monthly page quota or highest priority"
    )
    update.add_argument("license_id")
    update.add_argument("--monthly-pages", type=int, help="pages a month (0: none)")
    update.add_argument(
        "--max-priority", choices=PRIORITIES, help="the highest priority its jobs may ask for"
    )
    update.set_defaults(func=admin.cmd_licenses_update)
    licenses.add_parser("list", help="all licenses").set_defaults(func=admin.cmd_licenses_list)
    disable = licenses.add_parser("disable", help="suspend a license")
    disable.add_argument("license_id")
    disable.set_defaults(func=admin.cmd_licenses_disable)
    enable = licenses.add_parser("enable", help="lift a license's suspension")
    enable.add_argument("license_id")
    enable.set_defaults(func=admin.cmd_licenses_enable)
    secret = licenses.add_parser(
        "callback-secret", help="the key a license's callbacks are signed with (Cora-Signature)"
    )
    secret.add_argument("license_id")
    secret.add_argument(
        "--rotate", action="store_true", help="make a new one (the old one signs nothing after)"
    )
    secret.set_defaults(func=admin.cmd_licenses_callback_secret)
    usage = licenses.add_parser("usage", help="requests, jobs and pages per app and hour")
    usage.add_argument("license_id")
    usage.add_argument("--hours", type=int, default=24)
    usage.set_defaults(func=admin.cmd_licenses_usage)

    apps = commands.add_parser("apps", help="apps of a license").add_subparsers(
        dest="apps_command", required=True
    )
    app_create = apps.add_parser("create", help="create an app; prints its App ID (once)")
    app_create.add_argument("license_id")
    app_create.add_argument("name")
    app_create.set_defaults(func=admin.cmd_apps_create)
    app_list = apps.add_parser("list", help="a license's apps (App IDs are never shown)")
    app_list.add_argument("license_id")
    app_list.set_defaults(func=admin.cmd_apps_list)
    for verb, func in (("disable", admin.cmd_apps_disable), ("enable", admin.cmd_apps_enable)):
        toggle = apps.add_parser(verb, help=f"{verb} an app")
        toggle.add_argument("license_id")
        toggle.add_argument("app_id")
        toggle.set_defaults(func=func)
    mapping = apps.add_parser(
        "map-principal",
        help="let a Windows account (user@REALM or DOMAIN\\user) call as an app of a license",
    )
    mapping.add_argument("license_id")
    mapping.add_argument("app_id")
    mapping.add_argument("principal")
    mapping.set_defaults(func=admin.cmd_apps_map_principal)
    unmapping = apps.add_parser("unmap-principal", help="take a Windows account's mapping away")
    unmapping.add_argument("principal")
    unmapping.set_defaults(func=admin.cmd_apps_unmap_principal)
    principals = apps.add_parser(
        "list-principals", help="Windows accounts and the license and app each calls as"
    )
    principals.add_argument("license_id", nargs="?")
    principals.set_defaults(func=admin.cmd_apps_list_principals)

    windows = commands.add_parser(
        "windows-auth", help="Windows authentication (Negotiate/Kerberos, NTLM)"
    ).add_subparsers(dest="windows_command", required=True)
    windows.add_parser(
        "check", help="the keytab holds the service principal; the NTLM user file parses, 0600"
    ).set_defaults(func=admin.cmd_windows_auth_check)

    robot = commands.add_parser("robot", help="run the built-in OCR robot for one profile")
    robot.add_argument("--profile", default="Default")
    robot.add_argument("--burst", action="store_true", help="stop when the input folder is empty")
    robot.add_argument(
        "--processes", type=int, help="robot processes (default: the profile's robot_processes)"
    )
    robot.set_defaults(func=run.cmd_robot)

    demo = commands.add_parser("demo", help="OCR a generated document through a running service")
    demo.add_argument("--url", help="service URL (default: from host and port settings)")
    demo.add_argument("--timeout", type=int, default=120)
    demo.set_defaults(func=run.cmd_demo)

    profiles = commands.add_parser("profiles", help="OCR profiles").add_subparsers(
        dest="profiles_command", required=True
    )
    profiles.add_parser("list", help="configured profiles").set_defaults(
        func=admin.cmd_profiles_list
    )
    profiles.add_parser("check", help="folders exist and are writable").set_defaults(
        func=admin.cmd_profiles_check
    )

    connections = commands.add_parser("connections", help="connections").add_subparsers(
        dest="connections_command", required=True
    )
    connections.add_parser(
        "check", help="list each root, write and remove a probe file; one line each"
    ).set_defaults(func=admin.cmd_connections_check)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="create or migrate the database").set_defaults(
        func=admin.cmd_db_upgrade
    )
    backup = db.add_parser(
        "backup",
        help="copy the database to FILE: SQLite online, while the service runs; for"
        " PostgreSQL, print the pg_dump command",
    )
    backup.add_argument("file", metavar="FILE")
    backup.set_defaults(func=admin.cmd_db_backup)
    restore = db.add_parser(
        "restore", help="replace the SQLite database with FILE (stop the service first)"
    )
    restore.add_argument("file", metavar="FILE")
    restore.set_defaults(func=admin.cmd_db_restore)

    jobs = commands.add_parser("jobs", help="inspect jobs").add_subparsers(
        dest="jobs_command", required=True
    )
    listing = jobs.add_parser("list", help="the newest jobs")
    listing.add_argument("--state", choices=[state.value for state in JobState])
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=admin.cmd_jobs_list)
    show = jobs.add_parser("show", help="one job with its full history")
    show.add_argument("id", type=int)
    show.set_defaults(func=admin.cmd_jobs_show)
    abort = jobs.add_parser("abort", help="abort a job that is not final")
    abort.add_argument("id", type=int)
    abort.set_defaults(func=admin.cmd_jobs_abort)
    retry = jobs.add_parser("retry", help="queue a Failed job again")
    retry.add_argument("id", type=int)
    retry.set_defaults(func=admin.cmd_jobs_retry)
    purge = jobs.add_parser(
        "purge", help="delete final jobs (and their history) that ended DAYS ago or more"
    )
    purge.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    purge.add_argument("--dry-run", action="store_true", help="count them, delete nothing")
    purge.set_defaults(func=admin.cmd_jobs_purge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        settings = load_settings(
            args.config, host=getattr(args, "host", None), port=getattr(args, "port", None)
        )
        if settings.log_format != "text":
            logs.configure(args.log_level, settings.log_format)
        return int(args.func(settings, args))
    except CoraError as exc:
        print(f"cora-ocr: {exc}", file=sys.stderr)
        return 2
