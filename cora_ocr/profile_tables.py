"""A profile's table in the settings (`[profiles.<name>]`, profiles.py's docstring shows every
key) read into a Profile: each key checked, a bad value named with its key."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cora_ocr.errors import SettingsError
from cora_ocr.statuses import Priority

FORMAT_EXTENSIONS = {
    "alto": ".xml",
    "hocr": ".hocr",
    "text": ".txt",
    "pdf": ".pdf",
    "json": ".json",
    "pdfa": ".pdf",
}
# Other names a format is known by in `outputs` and `?format=`.
FORMAT_ALIASES = {"txt": "text", "xml": "alto"}
SKIP_TEXT = ("auto", "never", "always")
MEDIA_TYPES = ("application/pdf", "image/tiff", "image/png", "image/jpeg")
# Who reads a profile's hot folders: the built-in robot (Tesseract), or a robot of the
# operator's own through the hot-folder protocol, which `serve` leaves the profile to.
BUILT_IN, EXTERNAL = "tesseract", "external"
ENGINES = (BUILT_IN, EXTERNAL)
_KEYS = {
    "input_dir",
    "output_dir",
    "dpi",
    "output_format",
    "result_extension",
    "languages",
    "media_types",
    "engine",
    "tessdata_dir",
    "rotate_pages",
    "deskew",
    "robot_processes",
    "claim_timeout_seconds",
    "max_page_megapixels",
    "robot_memory_mb",
    "outputs",
    "skip_text",
    "review_below",
    "priority",
    "robot_backlog",
    "barcodes",
    "pdfa",
}


def profile_values(name: str, table: Mapping[str, Any], data_dir: Path) -> dict[str, Any]:
    """Profile's fields (but its name) from the profile's table."""
    prefix = f"profiles.{name}"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise SettingsError(f"{prefix}.{unknown[0]}: unknown key")
    outputs = _outputs(prefix, table)
    output_format = outputs[0]
    extension = str(table.get("result_extension", FORMAT_EXTENSIONS[output_format]))
    if not extension.startswith(".") or "/" in extension or "\\" in extension:
        raise SettingsError(f"{prefix}.result_extension: {extension!r} must look like '.xml'")
    extensions = [extension, *(FORMAT_EXTENSIONS[form] for form in outputs[1:])]
    if len(set(extensions)) < len(extensions):
        raise SettingsError(
            f"{prefix}.result_extension: {extension!r} is also the extension of another of "
            "the outputs; each output needs its own"
        )
    skip_text = table.get("skip_text", "auto")
    if skip_text not in SKIP_TEXT:
        raise SettingsError(
            f"{prefix}.skip_text: {skip_text!r} is not one of {', '.join(SKIP_TEXT)}"
        )
    review_below = table.get("review_below")
    if review_below is not None and (
        isinstance(review_below, bool)
        or not isinstance(review_below, int | float)
        or not 0 <= review_below <= 100
    ):
        raise SettingsError(f"{prefix}.review_below: {review_below!r} is not a number in 0..100")
    priority = table.get("priority", "normal")
    if not isinstance(priority, str) or priority not in Priority.__members__:
        raise SettingsError(
            f"{prefix}.priority: {priority!r} is not one of {', '.join(Priority.__members__)}"
        )
    backlog = table.get("robot_backlog", 0)
    if isinstance(backlog, bool) or not isinstance(backlog, int) or not 0 <= backlog <= 100_000:
        raise SettingsError(
            f"{prefix}.robot_backlog: {backlog!r} is not 0 (robot_processes + 1) or an "
            "integer in 1..100000"
        )
    base = data_dir / "robot" / name
    languages = table.get("languages", ["eng"])
    media = table.get("media_types", list(MEDIA_TYPES))
    for key, value in (("languages", languages), ("media_types", media)):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise SettingsError(f"{prefix}.{key}: expected a list of strings")
    dpi = table.get("dpi", 300)
    if not isinstance(dpi, int) or not 72 <= dpi <= 1200:
        raise SettingsError(f"{prefix}.dpi: {dpi!r} is not an integer in 72..1200")
    for key in ("rotate_pages", "deskew"):
        if not isinstance(table.get(key, True), bool):
            raise SettingsError(f"{prefix}.{key}: {table[key]!r} is not true or false")
    processes = table.get("robot_processes", os.cpu_count() or 1)
    if isinstance(processes, bool) or not isinstance(processes, int) or not 1 <= processes <= 256:
        raise SettingsError(f"{prefix}.robot_processes: {processes!r} is not an integer in 1..256")
    claim_timeout = table.get("claim_timeout_seconds", 60.0)
    if isinstance(claim_timeout, bool) or not isinstance(claim_timeout, int | float):
        raise SettingsError(f"{prefix}.claim_timeout_seconds: {claim_timeout!r} is not a number")
    if not 1 <= claim_timeout <= 86_400:
        raise SettingsError(f"{prefix}.claim_timeout_seconds: {claim_timeout!r} is not in 1..86400")
    megapixels = table.get("max_page_megapixels", 70.0)
    if isinstance(megapixels, bool) or not isinstance(megapixels, int | float):
        raise SettingsError(f"{prefix}.max_page_megapixels: {megapixels!r} is not a number")
    if not 1 <= megapixels <= 1000:
        raise SettingsError(f"{prefix}.max_page_megapixels: {megapixels!r} is not in 1..1000")
    memory = table.get("robot_memory_mb", 2048)
    if (
        isinstance(memory, bool)
        or not isinstance(memory, int)
        or not (memory == 0 or 512 <= memory <= 1_048_576)
    ):
        raise SettingsError(
            f"{prefix}.robot_memory_mb: {memory!r} is not 0 (no limit) or an integer in "
            "512..1048576"
        )
    tessdata = table.get("tessdata_dir")
    if tessdata is not None and not isinstance(tessdata, str):
        raise SettingsError(f"{prefix}.tessdata_dir: expected a folder path")
    bad = [lang for lang in languages if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", lang)]
    if bad or not languages:
        raise SettingsError(
            f"{prefix}.languages: {bad[0]!r} is not a Tesseract language name like 'deu'"
            if bad
            else f"{prefix}.languages: name at least one language"
        )
    engine = table.get("engine", BUILT_IN)
    if engine not in ENGINES:
        raise SettingsError(f"{prefix}.engine: {engine!r} is not one of {', '.join(ENGINES)}")
    return dict(
        barcodes=_barcodes(prefix, table.get("barcodes", [])),
        pdfa=_pdfa(prefix, table.get("pdfa", "2b")),
        dpi=dpi,
        input_dir=Path(str(table.get("input_dir", base / "in"))),
        output_dir=Path(str(table.get("output_dir", base / "out"))),
        output_format=output_format,
        result_extension=extension,
        engine=engine,
        languages=tuple(languages),
        media_types=tuple(media),
        tessdata_dir=Path(tessdata) if tessdata else None,
        rotate_pages=table.get("rotate_pages", True),
        deskew=table.get("deskew", True),
        robot_processes=processes,
        claim_timeout_seconds=float(claim_timeout),
        max_page_megapixels=float(megapixels),
        robot_memory_mb=memory,
        outputs=outputs,
        skip_text=skip_text,
        review_below=None if review_below is None else float(review_below),
        priority=Priority[priority],
        robot_backlog=backlog,
    )


def _outputs(prefix: str, table: Mapping[str, Any]) -> tuple[str, ...]:
    """`outputs` (aliases named as their formats), or output_format alone; when both are
    given, output_format must be the first output."""
    known = ", ".join([*FORMAT_EXTENSIONS, *FORMAT_ALIASES])
    single = table.get("output_format")
    if single is not None and FORMAT_ALIASES.get(str(single), str(single)) not in FORMAT_EXTENSIONS:
        raise SettingsError(f"{prefix}.output_format: {single!r} is not one of {known}")
    listed = table.get("outputs")
    if listed is None:
        return (FORMAT_ALIASES.get(str(single), str(single)) if single else "alto",)
    if not isinstance(listed, list) or not listed or not all(isinstance(f, str) for f in listed):
        raise SettingsError(f'{prefix}.outputs: expected a list of formats like ["alto", "pdf"]')
    outputs = tuple(FORMAT_ALIASES.get(str(form), str(form)) for form in listed)
    unknown = [form for form in listed if FORMAT_ALIASES.get(form, form) not in FORMAT_EXTENSIONS]
    if unknown:
        raise SettingsError(f"{prefix}.outputs: {unknown[0]!r} is not one of {known}")
    if len(set(outputs)) < len(outputs):
        raise SettingsError(f"{prefix}.outputs: each format once")
    if single is not None and FORMAT_ALIASES.get(str(single), str(single)) != outputs[0]:
        raise SettingsError(
            f"{prefix}.output_format: {single!r} is not the first of outputs ({listed[0]!r}); "
            "give one or the other"
        )
    return outputs


def _barcodes(prefix: str, value: Any) -> tuple[str, ...]:
    """`barcodes`: a list of formats, or "all"; none by default."""
    from cora_ocr.robot.barcodes import FORMATS

    if value == "all":
        return ("all",)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(
            f'{prefix}.barcodes: expected "all" or a list like ["Code128", "QRCode"]'
        )
    unknown = [item for item in value if item not in FORMATS]
    if unknown:
        raise SettingsError(
            f'{prefix}.barcodes: {unknown[0]!r} is not one of {", ".join(FORMATS)} (or "all")'
        )
    return tuple(dict.fromkeys(value))


def _pdfa(prefix: str, value: Any) -> str:
    """`pdfa`: the PDF/A part and conformance of the `pdfa` output."""
    if value not in ("1b", "2b"):
        raise SettingsError(f'{prefix}.pdfa: {value!r} is not "1b" or "2b"')
    return str(value)
