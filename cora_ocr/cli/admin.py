"""Administration commands: database, jobs, profiles, licenses, apps, Windows accounts."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from cora_ocr.cli.common import open_store, services_for
from cora_ocr.config import Settings
from cora_ocr.errors import SettingsError
from cora_ocr.licensing import Licensing
from cora_ocr.report import describe_job
from cora_ocr.statuses import JobState, Priority


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    store = open_store(settings)
    store.dispose()
    print("database is at the latest revision")
    return 0


def cmd_db_backup(settings: Settings, args: argparse.Namespace) -> int:
    from cora_ocr import backup

    url, target = settings.effective_database_url, Path(args.file)
    database = backup.sqlite_path(url)
    if database is None:
        print("PostgreSQL is backed up by its own tool, online and consistent:")
        print(f"  {backup.pg_dump_command(url, target)}")
        print("and restored into an empty database (then `cora-ocr db upgrade`) with:")
        print(f"  pg_restore --no-owner --dbname '<database URL>' '{target}'")
        return 0
    revision = backup.backup_sqlite(database, target)
    print(f"{database} backed up to {target} (revision {revision})")
    return 0


def cmd_db_restore(settings: Settings, args: argparse.Namespace) -> int:
    from cora_ocr import backup

    database = backup.sqlite_path(settings.effective_database_url)
    if database is None:
        raise backup.BackupError(
            "db restore is for SQLite; restore PostgreSQL with pg_restore "
            "(docs/guides/production.md, Backups)"
        )
    revision = backup.restore_sqlite(Path(args.file), database)
    print(f"{database} restored from {args.file} (revision {revision})")
    return 0


def cmd_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    state = JobState(args.state) if args.state else None
    from cora_ocr.robot_watch import silent_profiles, waits_on_silence

    with services_for(settings) as services:
        jobs = services.jobs.list(state, args.limit)
        silent = silent_profiles(services.profiles.all())
    print(f"{'ID':>12}  {'STATE':<18} {'ERROR':<22} {'CREATED':<25} PROFILE")
    for job in jobs:
        unread = " (no robot)" if waits_on_silence(job, silent) else ""
        print(
            f"{job.id:>12}  {job.state:<18} {job.error_code:<22} "
            f"{job.created_at.isoformat(timespec='seconds'):<25} {job.ocr_profile}{unread}"
        )
    return 0


def cmd_jobs_show(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services:
        job = services.jobs.show(args.id)
    print("\n".join(describe_job(job)))
    return 0


def cmd_jobs_abort(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services:
        previous = services.jobs.abort(args.id)
    print(f"job {args.id} aborted (was {previous.wire.value})")
    return 0


def cmd_jobs_retry(settings: Settings, args: argparse.Namespace) -> int:
    with services_for(settings) as services:
        services.jobs.retry(args.id)
    print(f"job {args.id} queued again")
    return 0


def cmd_jobs_purge(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    from cora_ocr.retention import purge

    if args.older_than < 0:
        raise SettingsError(f"--older-than: {args.older_than} is not a number of days")
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=args.older_than)
    with services_for(settings) as services:
        count = purge(services.job_store, services.connections, cutoff, dry_run=args.dry_run)
    when = cutoff.isoformat(timespec="seconds")
    if args.dry_run:
        print(f"{count} jobs ended before {when} would be purged")
    else:
        print(f"{count} jobs ended before {when} purged, with their history")
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
    from cora_ocr.robot.engine import engine_problems

    failed = 0
    for profile in Profiles.from_settings(settings).all():
        problems = profile.problems() + engine_problems(profile)
        failed += bool(problems)
        print(f"{profile.name}: {'; '.join(problems) if problems else 'ok'}")
    return 1 if failed else 0


def cmd_connections_check(settings: Settings, _args: argparse.Namespace) -> int:
    """Each connection: list its root, write and remove a probe file; one line each."""
    from cora_ocr.connections import Connections, StorageError

    connections = Connections(settings.effective_connections)
    failed = 0
    try:
        for storage in connections.all():
            try:
                storage.check()
            except StorageError as exc:
                failed += 1
                print(f"{storage.name}: {exc.reason} ({storage.describe()})")
            except OSError as exc:
                failed += 1
                print(f"{storage.name}: {exc.strerror or exc} ({storage.describe()})")
            else:
                print(f"{storage.name}: ok ({storage.describe()})")
    finally:
        connections.close()
    return 1 if failed else 0


@contextlib.contextmanager
def _licensing(settings: Settings) -> Iterator[Licensing]:
    with services_for(settings) as services:
        yield services.licensing


def cmd_licenses_create(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    expires = dt.datetime.fromisoformat(args.expires).astimezone(dt.UTC) if args.expires else None
    with _licensing(settings) as licensing:
        if args.monthly_pages < 0:
            raise SettingsError(f"--monthly-pages: {args.monthly_pages} is not a number of pages")
        license_id = licensing.create_license(
            args.name,
            args.region,
            args.requests_per_hour,
            args.pages_per_hour,
            expires,
            monthly_pages=args.monthly_pages,
            max_priority=Priority[args.max_priority],
        )
    print(license_id)
    return 0


def cmd_licenses_update(settings: Settings, args: argparse.Namespace) -> int:
    if args.monthly_pages is None and args.max_priority is None:
        raise SettingsError("licenses update: give --monthly-pages, --max-priority or both")
    with _licensing(settings) as licensing:
        if args.monthly_pages is not None:
            licensing.set_monthly_pages(args.license_id, args.monthly_pages)
            shown = args.monthly_pages or "no"
            print(f"license {args.license_id}: {shown} monthly page quota")
        if args.max_priority is not None:
            licensing.set_max_priority(args.license_id, Priority[args.max_priority])
            print(f"license {args.license_id}: jobs up to priority {args.max_priority}")
    return 0


def cmd_licenses_list(settings: Settings, _args: argparse.Namespace) -> int:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    with _licensing(settings) as licensing:
        licenses = licensing.licenses()
    print(
        f"{'LICENSE ID':<18} {'REGION':<10} {'STATUS':<10} {'REQ/H':>7} {'PAGES/H':>8}"
        f"  {'EXPIRES (UTC)':<17} NAME"
    )
    for lic in licenses:
        expired = lic.expires_at is not None and lic.expires_at <= now
        status = "suspended" if lic.suspended else "expired" if expired else "active"
        expires = f"{lic.expires_at:%Y-%m-%d %H:%M}" if lic.expires_at else "never"
        print(
            f"{lic.license_id:<18} {lic.region:<10} {status:<10} {lic.hourly_request_quota:>7}"
            f" {lic.hourly_page_quota:>8}  {expires:<17} {lic.name}"
        )
    return 0


def cmd_licenses_disable(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        licensing.set_license_suspended(args.license_id, True)
    print(f"license {args.license_id} suspended")
    return 0


def cmd_licenses_enable(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        licensing.set_license_suspended(args.license_id, False)
    print(f"license {args.license_id} active again (jobs stopped while suspended stay Aborted)")
    return 0


def cmd_licenses_callback_secret(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        print(licensing.callback_secret(args.license_id, rotate=args.rotate))
    return 0


def cmd_licenses_usage(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=args.hours)
    with _licensing(settings) as licensing:
        rows = licensing.usage(args.license_id, since)
    print(f"{'HOUR (UTC)':<17} {'APP':<20} {'REQUESTS':>9} {'JOBS':>6} {'PAGES':>6}")
    for name, hint, hour, requests, jobs, pages in rows:
        print(
            f"{hour:%Y-%m-%d %H:00} {name + ' (…' + hint + ')':<20} "
            f"{requests:>9} {jobs:>6} {pages:>6}"
        )
    return 0


def cmd_apps_create(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        print(licensing.create_app(args.license_id, args.name))
    return 0


def cmd_apps_list(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        apps = licensing.apps(args.license_id)
    print(f"{'APP ID ENDS':<12} {'STATUS':<9} {'CREATED (UTC)':<17} NAME")
    for app in apps:
        status = "enabled" if app.enabled else "disabled"
        print(f"{'…' + app.app_id_hint:<12} {status:<9} {app.created_at:%Y-%m-%d %H:%M} {app.name}")
    return 0


def cmd_apps_disable(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        licensing.set_app_enabled(args.license_id, args.app_id, False)
    print("app disabled")
    return 0


def cmd_apps_enable(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        licensing.set_app_enabled(args.license_id, args.app_id, True)
    print("app enabled")
    return 0


def cmd_apps_map_principal(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        key = licensing.map_principal(args.license_id, args.app_id, args.principal)
    print(f"{key} calls as this app of license {args.license_id}")
    return 0


def cmd_apps_unmap_principal(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        licensing.unmap_principal(args.principal)
    print("principal unmapped")
    return 0


def cmd_apps_list_principals(settings: Settings, args: argparse.Namespace) -> int:
    with _licensing(settings) as licensing:
        rows = licensing.principals(args.license_id)
    print(f"{'LICENSE ID':<17} {'APP':<20} PRINCIPAL")
    for principal, license_id, app in rows:
        print(f"{license_id:<17} {app:<20} {principal}")
    return 0


def cmd_windows_auth_check(settings: Settings, _args: argparse.Namespace) -> int:
    """One line per part; secrets are never printed. Non-zero on any problem."""
    from cora_ocr.web.windows import check

    windows = settings.windows_auth
    if not windows.enabled:
        print("windows_auth: off (enabled = false)")
        return 1
    problems = check(windows)
    for problem in problems:
        print(problem)
    if windows.kerberos and not any(p.startswith("keytab") for p in problems):
        print(f"keytab: ok ({windows.keytab} holds {windows.service_principal})")
    if windows.ntlm and not any(p.startswith("ntlm_user_file") for p in problems):
        print(f"ntlm_user_file: ok ({windows.ntlm_user_file}, mode 0600)")
    print(f"ntlm_v1: {'accepted' if windows.ntlm_v1 else 'refused (NTLMv2 only)'}")
    return 1 if problems else 0
