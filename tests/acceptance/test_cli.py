"""The command line against real processes: `cora-ocr serve`, the README snippet, jobs, db."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cora_ocr.config import load_settings
from cora_ocr.errors import SettingsError
from tests.support.processes import run
from tests.support.waiting import read_line

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "cora_ocr.cli"]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_serve_runs_the_readme_snippet_and_jobs_show(cli_env: dict[str, str]) -> None:
    port = cli_env["CORA_OCR_PORT"]
    process = subprocess.Popen(
        [*CLI, "serve"], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        banner = read_line(process.stdout, 60, "serve starts")
        assert f"http://127.0.0.1:{port}/SequenceServices/" in banner
        snippet = readme_snippet().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        result = subprocess.run(
            [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        job_id, status, error, context = result.stdout.split()
        # serve's worker takes the job at once (no poll interval), and the snippet's
        # invoice.pdf is not in the connection folder: the job may already have failed.
        assert (status, error, context) in {
            ("Queued", "NoError", "invoice-17"),
            ("ProcessingInput", "NoError", "invoice-17"),
            ("Failed", "InputFileNotFound", "invoice-17"),
        }
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        if process.stdout is not None:
            process.stdout.close()

    listing = run(cli_env, "jobs", "list")
    assert listing.returncode == 0 and re.search(
        rf"^\s+{job_id}\s+failed\s+InputFileNotFound\s", listing.stdout, re.M
    )
    shown = run(cli_env, "jobs", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    assert "status:           Failed (failed)" in shown.stdout
    assert "input file CoraOCRExternalConnection:in/invoice.pdf does not exist" in shown.stdout
    assert "external context: invoice-17" in shown.stdout
    assert "input:            CoraOCRExternalConnection:in/invoice.pdf" in shown.stdout
    assert "put model:        Overwrite" in shown.stdout
    assert "ActivityName: OCR" in shown.stdout
    assert re.search(
        r"history:\n  \d{4}-\d\d-\d\dT[\d:.]+\+00:00  - -> queued by soap - submitted", shown.stdout
    )


def test_jobs_show_of_an_unknown_id(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "jobs", "show", "424242")
    assert result.returncode == 2 and "no job with id 424242" in result.stderr


def test_db_upgrade_is_idempotent(cli_env: dict[str, str]) -> None:
    for _ in range(2):
        result = run(cli_env, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "latest revision" in result.stdout


def test_bad_setting_names_its_key(cli_env: dict[str, str]) -> None:
    result = run({**cli_env, "CORA_OCR_PORT": "eighty"}, "db", "upgrade")
    assert result.returncode == 2
    assert "port: 'eighty' is not an integer" in result.stderr


def test_settings_sources(tmp_path: Path) -> None:
    config = tmp_path / "cora.toml"
    config.write_text('port = 9000\nthreads = 3\n[connections]\nScans = "/srv/scans"\n')
    settings = load_settings(config, environ={"CORA_OCR_THREADS": "5"})
    assert (settings.port, settings.threads) == (9000, 5)  # the environment wins over the file
    assert settings.effective_connections == {"Scans": Path("/srv/scans")}
    env_connections = load_settings(environ={"CORA_OCR_CONNECTIONS": "A=/a, B=/b"})
    assert env_connections.effective_connections == {"A": Path("/a"), "B": Path("/b")}
    default = load_settings(environ={"CORA_OCR_DATA_DIR": "/d"})
    assert default.effective_database_url == "sqlite:////d/cora_ocr.db"
    assert default.effective_connections == {
        "CoraOCRExternalConnection": Path("/d/connections/CoraOCRExternalConnection")
    }


@pytest.mark.parametrize(
    ("content", "environ", "message"),
    [
        ("bogus = 1\n", {}, "bogus: unknown setting"),
        ("port = [\n", {}, "CONFIG:"),
        ("", {"CORA_OCR_PORT": "70000"}, "port: 70000 is outside 0..65535"),
        ("", {"CORA_OCR_CONNECTIONS": "nopath"}, "connections: 'nopath' is not of the form"),
        ("", {"CORA_OCR_MAX_TIMEOUT_SECONDS": "0"}, "max_timeout_seconds: 0 is outside"),
        ("orphan_seconds = 30\n", {}, "orphan_seconds: 30.0 is below 60 seconds"),
        ("", {"CORA_OCR_ORPHAN_SECONDS": "-1"}, "orphan_seconds: -1.0 is outside"),
    ],
)
def test_bad_settings(tmp_path: Path, content: str, environ: dict[str, str], message: str) -> None:
    config = tmp_path / "cora.toml"
    config.write_text(content)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(config, environ=environ)


def test_worker_abort_retry_and_full_history(cli_env: dict[str, str]) -> None:
    from cora_ocr.config import DEFAULT_CONNECTION
    from cora_ocr.jobs import FileBatchRequest, FileRef
    from cora_ocr.services import build_services
    from cora_ocr.store import Store

    settings = load_settings(environ=cli_env)
    assert run(cli_env, "db", "upgrade").returncode == 0
    store = Store(settings.effective_database_url)
    try:
        services = build_services(settings, store)
        services.connections.ensure_roots()
        job_id = services.jobs.submit(
            FileBatchRequest(
                timeout=60,
                external_context="cli",
                input_file=FileRef(DEFAULT_CONNECTION, "", "x.png"),
                ocr_profile="Default",
                output_file=FileRef(DEFAULT_CONNECTION, "", "x.xml"),
                put_model="",
            )
        )
    finally:
        store.dispose()

    check = run(cli_env, "profiles", "check")
    assert (
        check.returncode == 1
        and "Default: input_dir" in check.stdout
        and "does not exist" in check.stdout
    )
    worker = run(cli_env, "worker", "--burst", "--name", "cli-worker")
    assert worker.returncode == 0, worker.stderr
    assert "stopped after 1 claims" in worker.stdout
    assert run(cli_env, "profiles", "check").stdout.strip() == "Default: ok"
    listing = run(cli_env, "profiles", "list")
    assert listing.stdout.startswith("Default: alto (.xml), languages eng")

    retried = run(cli_env, "jobs", "retry", str(job_id))
    assert retried.returncode == 0 and f"job {job_id} queued again" in retried.stdout
    aborted = run(cli_env, "jobs", "abort", str(job_id))
    assert aborted.returncode == 0 and "aborted (was Queued)" in aborted.stdout
    again = run(cli_env, "jobs", "abort", str(job_id))
    assert again.returncode == 2 and "already Aborted" in again.stderr

    shown = run(cli_env, "jobs", "show", str(job_id)).stdout
    history = shown.split("history:\n", 1)[1].splitlines()
    stamp = r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00"
    expected = [
        r"- -> queued by soap - submitted",
        r"queued -> processing_input by cli-worker",
        r"processing_input -> failed \[InputFileNotFound\] by cli-worker"
        r" - input file CoraOCRExternalConnection:x\.png does not exist",
        r"failed -> queued by cli - retried after InputFileNotFound",
        r"queued -> aborted by cli - aborted",
    ]
    assert len(history) == len(expected), shown
    for line, pattern in zip(history, expected, strict=True):
        assert re.fullmatch(rf"  {stamp}  {pattern}", line), line


def test_demo_through_a_running_service(cli_env: dict[str, str]) -> None:
    process = subprocess.Popen(
        [*CLI, "serve"], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        assert "cora-ocr serving" in read_line(process.stdout, 60, "serve starts")
        demo = run(cli_env, "demo", "--timeout", "60")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        if process.stdout is not None:
            process.stdout.close()
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert re.search(r"job \d+: Completed \(NoError\)", demo.stdout)
    rate = re.search(r"character error rate against the known text: ([\d.]+)%", demo.stdout)
    assert rate is not None and float(rate.group(1)) < 2.0
    text = demo.stdout.split("recognised text:\n", 1)[1]
    assert len(text.split()) >= 30  # six lines of seven words


def test_licenses_and_apps_administration(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process (`main` with the same environment): these commands need no server."""
    from cora_ocr.cli import main

    for key, value in cli_env.items():
        if key.startswith("CORA_OCR_"):
            monkeypatch.setenv(key, value)

    def ok(*args: str) -> str:
        code = main(args)
        captured = capsys.readouterr()
        assert code == 0, captured.err
        return captured.out

    def status_of(license_id: str) -> str:
        line = next(row for row in ok("licenses", "list").splitlines() if license_id in row)
        return line.split()[2]

    ok("db", "upgrade")
    live = ok("licenses", "create", "Live").strip()
    old = ok("licenses", "create", "Old", "--expires", "2001-02-03T04:05:00+00:00").strip()
    assert status_of(live) == "active" and status_of(old) == "expired"
    assert "2001-02-03 04:05" in ok("licenses", "list")
    ok("licenses", "disable", live)
    assert status_of(live) == "suspended"
    ok("licenses", "enable", live)
    assert status_of(live) == "active"
    monthly = ok("licenses", "create", "Monthly", "--monthly-pages", "500").strip()
    assert "500 monthly page quota" in ok("licenses", "update", monthly, "--monthly-pages", "500")
    assert "no monthly page quota" in ok("licenses", "update", monthly, "--monthly-pages", "0")
    capped = ok("licenses", "create", "Capped", "--max-priority", "normal").strip()
    assert "up to priority low" in ok("licenses", "update", capped, "--max-priority", "low")
    assert main(["licenses", "update", capped]) == 2
    assert "give --monthly-pages, --max-priority or both" in capsys.readouterr().err
    secret = ok("licenses", "callback-secret", live).strip()
    assert len(secret) == 64 and int(secret, 16) >= 0  # 32 random bytes, hex
    assert ok("licenses", "callback-secret", live).strip() == secret
    rotated = ok("licenses", "callback-secret", live, "--rotate").strip()
    assert rotated != secret and ok("licenses", "callback-secret", live).strip() == rotated

    app_id = ok("apps", "create", live, "intake").strip()
    ok("apps", "create", live, "billing")
    listing = ok("apps", "list", live)
    assert app_id not in listing, "an App ID is shown once, at creation"
    rows = {line.split()[-1]: line.split() for line in listing.splitlines()[1:]}
    assert rows["intake"][:2] == ["…" + app_id[-4:], "enabled"]
    assert rows["billing"][1] == "enabled"
    ok("apps", "disable", live, app_id)
    assert ok("apps", "list", live).count("disabled") == 1
    ok("apps", "enable", live, app_id)
    assert "disabled" not in ok("apps", "list", live)
    assert main(["apps", "list", "0000000000000000"]) == 2
    assert "no license 0000000000000000" in capsys.readouterr().err


def test_profiles_check_names_a_missing_language(tmp_path: Path) -> None:
    config = tmp_path / "cora.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n'
        "[profiles.Default]\n"
        "[profiles.French]\n"
        'languages = ["eng", "fra"]\n'
        "[profiles.NoOsd]\n"
        f'tessdata_dir = "{tmp_path}"\n'
        "rotate_pages = false\n"
    )
    for profile in ("Default", "French", "NoOsd"):
        for folder in ("in", "out"):
            (tmp_path / "robot" / profile / folder).mkdir(parents=True)
    env = {**os.environ, "CORA_OCR_CONFIG": str(config)}
    check = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "profiles", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 1
    lines = dict(line.split(": ", 1) for line in check.stdout.splitlines())
    assert lines["Default"] == "ok"
    assert lines["French"].startswith("no Tesseract language data for fra in ")
    assert "pip install tessdata-fast-fra" in lines["French"]
    # rotate_pages off: no need for osd, but eng is not in that tessdata_dir.
    assert lines["NoOsd"].startswith(f"no Tesseract language data for eng in {tmp_path}")


@pytest.mark.parametrize("bad", ['languages = ["de-DE"]', "languages = []", "deskew = 1"])
def test_bad_language_settings_are_refused_with_the_field(tmp_path: Path, bad: str) -> None:
    config = tmp_path / "cora.toml"
    config.write_text(f"[profiles.Default]\n{bad}\n")
    check = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "profiles", "list"],
        env={**os.environ, "CORA_OCR_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode != 0
    field = bad.split(" ")[0]
    assert f"profiles.Default.{field}" in check.stderr
