"""A SOAP stack that is not Python's: PHP's SoapClient (Debian php-cli + php-soap, installed by
.ci/run) imports ?wsdl and calls FileBatch and GetStatus with the header, over SOAP 1.1 and
1.2. It sends the header with mustUnderstand and writes its own envelopes and prefixes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cora_ocr.store import Store
from cora_ocr.store.job_store import JobStore
from tests.conftest import LiveServer

CLIENT = Path(__file__).parents[1] / "support" / "clients" / "php_soap_client.php"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_php_soap_client_calls_file_batch_and_get_status(
    server: LiveServer, store: Store, version: str
) -> None:
    php = shutil.which("php")
    assert php is not None, "php-cli and php-soap are needed (bash .ci/run installs them)"
    done = subprocess.run(
        [php, str(CLIENT), server.wsdl, version, f"php{version}.png"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert answer == {
        "job": answer["job"],
        "status": "Queued",
        "error": "NoError",
        "context": "php \u00e9\r\n<&>",
    }
    jobs = JobStore(store)
    row = jobs.status(answer["job"])
    assert row is not None and row.external_context == "php \u00e9\r\n<&>"
    job = jobs.get(answer["job"])
    assert job is not None and job.input_name == f"php{version}.png"
    assert job.put_model == "Rename"
    assert job.activity_metadata is not None
    assert job.activity_metadata["CallerId"] == 42
