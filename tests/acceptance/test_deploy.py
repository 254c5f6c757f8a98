"""deploy/ (issue 16): systemd accepts every unit, and the sample configuration is valid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cora_ocr.config import load_settings
from cora_ocr.host.nginx import NginxOptions, render
from cora_ocr.profiles import Profiles

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTALLED = "/opt/cora-ocr/.venv/bin/cora-ocr"  # where the production guide's steps install it


def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian package systemd)"
    here = Path(sys.executable).parent / "cora-ocr"  # this checkout's, for the path checks
    units = sorted(DEPLOY.glob("*.service"))
    assert {unit.name for unit in units} == {
        "cora-ocr-web.service",
        "cora-ocr-worker@.service",
        "cora-ocr-robot@.service",
    }
    names = []
    for unit in units:
        text = unit.read_text()
        assert INSTALLED in text
        # A template is verified as an instance of it, as systemctl would start it.
        name = unit.name.replace("@.", "@Default.")
        (tmp_path / name).write_text(text.replace(INSTALLED, str(here)))
        names.append(str(tmp_path / name))
    done = subprocess.run(
        [analyze, "verify", *names], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    ours = [line for line in done.stderr.splitlines() if str(tmp_path) in line]
    assert ours == [], ours  # no warning about any of them (unknown keys, bad values)


def test_the_sample_configuration_loads() -> None:
    settings = load_settings(DEPLOY / "cora-ocr.toml", environ={})
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert (settings.log_format, settings.access_log, settings.retention_days) == ("json", True, 90)
    assert settings.web_socket == Path("/run/cora-ocr/web.sock")  # behind nginx
    assert settings.trusted_proxies == frozenset()  # the socket's one peer (nginx) only
    (profile,) = Profiles.from_settings(settings).all()
    assert profile.input_dir == Path("/srv/cora-ocr/robot/Default/in")


@pytest.mark.parametrize("unit", ["cora-ocr-worker@.service", "cora-ocr-robot@.service"])
def test_template_units_take_their_instance(unit: str) -> None:
    text = (DEPLOY / unit).read_text()
    assert "%i" in text.split("ExecStart=", 1)[1].splitlines()[0]


def test_the_deploy_nginx_conf_is_what_the_command_prints_for_the_deploy_settings() -> None:
    settings = load_settings(DEPLOY / "cora-ocr.toml", environ={})
    printed = render(
        settings,
        NginxOptions(
            tls_cert=Path("/etc/cora-ocr/tls/cert.pem"),
            tls_key=Path("/etc/cora-ocr/tls/key.pem"),
            source="deploy/cora-ocr.toml",
        ),
    )
    assert (DEPLOY / "nginx.conf").read_text() == printed, (
        "deploy/nginx.conf is stale: cora-ocr --config deploy/cora-ocr.toml nginx-config "
        "--tls-cert /etc/cora-ocr/tls/cert.pem --tls-key /etc/cora-ocr/tls/key.pem"
    )
    assert "server unix:/run/cora-ocr/web.sock;" in printed
