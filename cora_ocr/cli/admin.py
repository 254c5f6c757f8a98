"""Administration commands: database, jobs, profiles, licenses, apps."""

from __future__ import annotations

import argparse
from typing import Any

from cora_ocr.cli.common import open_store, services_for
from cora_ocr.config import Settings
from cora_ocr.report import describe_job
from cora_ocr.statuses import JobState


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    store = open_store(settings)
    store.dispose()
    print("database is at the latest revision")
    return 0


def _services(settings: Settings) -> Any:
    from cora_ocr.services import build_services

    return build_services(settings, open_store(settings))


def cmd_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    services = services_for(settings)
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
    services = services_for(settings)
    jobs = services.jobs
    job = jobs.show(args.id)
    print("\n".join(describe_job(job)))
    jobs.store.dispose()
    return 0


def cmd_jobs_abort(settings: Settings, args: argparse.Namespace) -> int:
    services = services_for(settings)
    previous = services.jobs.abort(args.id)
    print(f"job {args.id} aborted (was {previous.wire.value})")
    return 0


def cmd_jobs_retry(settings: Settings, args: argparse.Namespace) -> int:
    services = services_for(settings)
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
    return services_for(settings).licensing


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
