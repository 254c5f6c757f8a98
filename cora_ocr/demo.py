"""`cora-ocr demo`: submit a generated document through SOAP, wait, print what was read."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.errors import CoraError
from cora_ocr.namespaces import SOAP11_ENV, TNS

FINAL = {"Completed", "Failed", "Aborted", "NotFound"}


@dataclass
class DemoResult:
    job_id: int
    status: str
    error_code: str
    output: Path


def _file(tag: str, folder: str, name: str) -> str:
    return (
        f"<{tag}><Connection>{DEFAULT_CONNECTION}</Connection><RelativeLocation>"
        f"{escape(folder)}</RelativeLocation><FileName>{escape(name)}</FileName></{tag}>"
    )


def submit(url: str, folder: str, name: str, timeout: int) -> int:
    output = Path(name).stem + ".xml"
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP11_ENV}">'
        f'<soap:Body><FileBatch xmlns="{TNS}"><TimeOut>{timeout}</TimeOut>'
        f"<ExternalContext>cora-ocr demo</ExternalContext>{_file('InputFile', folder, name)}"
        f"<OCRProfile>Default</OCRProfile>{_file('OutPutFile', folder, output)}"
        "<PutModel>Overwrite</PutModel></FileBatch></soap:Body></soap:Envelope>"
    ).encode()
    request = urllib.request.Request(
        url, body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}FileBatch"'}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            document = etree.fromstring(reply.read())
    except OSError as exc:
        raise CoraError(f"cannot reach the service at {url}: {exc}") from None
    return int(document.findtext(f".//{{{TNS}}}MasterWorkflowInstanceId") or "0")


def status(url: str, job_id: int) -> tuple[str, str]:
    query = urllib.parse.urlencode({"MasterWorkflowInstanceId": job_id})
    with urllib.request.urlopen(f"{url}/GetStatus?{query}", timeout=30) as reply:
        document = etree.fromstring(reply.read())
    return (
        document.findtext(f"{{{TNS}}}Status") or "",
        document.findtext(f"{{{TNS}}}ErrorCode") or "",
    )


def run_demo(url: str, root: Path, document: Path, timeout: int) -> DemoResult:
    folder = document.parent.relative_to(root).as_posix()
    job_id = submit(url, folder, document.name, timeout)
    deadline = time.monotonic() + timeout + 10
    state, code = "Queued", "NoError"
    while time.monotonic() < deadline:
        state, code = status(url, job_id)
        if state in FINAL:
            break
        time.sleep(0.5)
    return DemoResult(job_id, state, code, document.with_name(document.stem + ".xml"))
