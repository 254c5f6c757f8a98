"""`cora-ocr web`: gunicorn processes serving HTTPS directly with a certificate, licensed
callers over zeep, plain HTTP refused."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import zeep
from zeep.transports import Transport

from cora_ocr.config import load_settings
from cora_ocr.services import build_services
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from tests.support.factories import activity_header, file_batch_args
from tests.support.processes import SERVICE, self_signed, wait_until_listening


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_web(env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cora_ocr.cli", "web"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_listening(int(env["CORA_OCR_PORT"]), process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_https_served_directly_to_licensed_callers(web_env: dict[str, str], tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = {**web_env, "CORA_OCR_TLS_CERT": str(cert), "CORA_OCR_TLS_KEY": str(key)}
    settings = load_settings(environ=env)
    store = Store(settings.effective_database_url)
    upgrade(store.engine)
    licensing = build_services(settings, store).licensing
    license_id = licensing.create_license("Acme")
    app_id = licensing.create_app(license_id, "intake")
    store.dispose()

    process = run_web(env)
    try:
        base = f"https://127.0.0.1:{env['CORA_OCR_PORT']}{SERVICE}"
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides session.verify
        session.verify = str(cert)
        session.auth = (license_id, app_id)
        client = zeep.Client(base + "?wsdl", transport=Transport(session=session))
        job_id = client.service.FileBatch(**file_batch_args())
        status = client.service.GetStatus(
            _soapheaders={"ActivityMetadata": activity_header(job_id)}
        )
        assert (status.Status, status.ErrorCode) == ("Queued", "NoError")
        anonymous = requests.get(base + "/GetStatus", verify=str(cert))
        assert anonymous.status_code == 401
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(base.replace("https://", "http://") + "?wsdl", timeout=5)
    finally:
        stop(process)


def test_plain_http_is_refused_by_default(web_env: dict[str, str]) -> None:
    process = run_web(web_env)
    try:
        reply = requests.get(f"http://127.0.0.1:{web_env['CORA_OCR_PORT']}{SERVICE}?wsdl")
        assert reply.status_code == 403 and "HTTPS is required" in reply.text
    finally:
        stop(process)


def test_half_a_tls_setting_is_refused(web_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "web"],
        env={**web_env, "CORA_OCR_TLS_CERT": "/nonexistent.pem"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "tls_cert: give both" in result.stderr
