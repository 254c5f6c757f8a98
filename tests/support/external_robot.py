"""A hot-folder robot written from the hot-folder protocol alone
(docs/reference/hot-folder-protocol.md; it imports nothing of cora_ocr): `python
external_robot.py INPUT_DIR OUTPUT_DIR RESULT_EXTENSION` handles every document waiting once
and exits.

Its "recognition" upper-cases a text document; one that says REFUSE gets a `.error`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def publish(target: Path, data: bytes) -> None:
    temp = target.with_name(f".{target.name}.external")  # a dot-file, then a rename
    temp.write_bytes(data)
    os.replace(temp, target)


def main() -> None:
    input_dir, output_dir, extension = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    for document in sorted(input_dir.iterdir()):
        if document.name.startswith(".") or not document.is_file():
            continue
        stem = document.name.rsplit(".", 1)[0] if "." in document.name else document.name
        text = document.read_bytes()
        if text.strip() == b"REFUSE":
            publish(output_dir / f"{stem}.error", b"the script refuses this document")
        else:
            publish(output_dir / f"{stem}{extension}", text.upper())
        document.unlink()


if __name__ == "__main__":
    main()
