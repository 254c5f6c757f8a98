"""Each kind of connection is imported where one is configured, and only there
(cora_ocr/connections/specs.py: KINDS): a fresh interpreter, as `cora-ocr` starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cora_ocr.connections.specs import KINDS


def test_a_kind_and_its_sdk_are_imported_only_where_configured(tmp_path: Path) -> None:
    """Settings and connections of local folders alone import no kind's module, nor paramiko,
    smbprotocol, boto3 or the Azure SDK (a fresh interpreter, as `cora-ocr` starts); an SFTP
    connection imports its module and paramiko, and nothing of the others."""
    watched = ("paramiko", "smbclient", "boto3", "azure", *KINDS.values())
    code = (
        "import sys\n"
        "from cora_ocr.config import load_settings\n"
        "from cora_ocr.connections import Connections\n"
        "Connections(load_settings(sys.argv[1]).effective_connections)\n"
        f"print(sorted(name for name in {watched!r} if name in sys.modules))\n"
    )

    def imported(connections: str) -> str:
        settings = tmp_path / "cora-ocr.toml"
        settings.write_text(f'data_dir = "{tmp_path}"\n[connections]\n{connections}\n')
        argv = [sys.executable, "-c", code, str(settings)]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    assert imported(f'Local = "{tmp_path}"') == "[]"
    sftp = 'Archive = {type = "sftp", host = "h", user = "u", root = "/r", password_env = "P"}'
    assert imported(sftp) == "['cora_ocr.connections.sftp', 'paramiko']"
