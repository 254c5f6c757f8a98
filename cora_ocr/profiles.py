"""OCR profiles: named robot hot folders and engine settings, from the settings file.

```toml
[profiles.Default]
input_dir = "/srv/robot/in"        # the robot picks documents up here
output_dir = "/srv/robot/out"      # and writes <stem><result_extension> (or <stem>.error) here
output_format = "alto"             # alto | hocr | text | pdf | pdfa | json
result_extension = ".xml"          # default follows output_format
outputs = ["alto", "pdf"]          # several results: the first at OutPutFile, each other
                                   # beside it with its own extension (.pdf, .txt, .hocr)
skip_text = "auto"                 # auto: PDF pages with a text layer covering them are read
                                   # from it; never: all OCRed; always: any page with text
review_below = 70                  # Completed jobs under this mean word confidence: review
priority = "normal"                # its jobs' priority unless asked: low | normal | high
robot_backlog = 5                  # documents handed to the robot at once (processes + 1)
engine = "tesseract"               # the built-in robot (serve runs it for every such profile);
                                   # "external": a robot of your own reads the hot folders
languages = ["eng"]                # Tesseract language data: tessdata-fast-<lang> packages
# tessdata_dir = "/usr/share/tesseract-ocr/5/tessdata"   # or Debian's tesseract-ocr-<lang>
rotate_pages = true                # turn pages by 90/180/270 (orientation detection)
deskew = true                      # straighten skews up to 15 degrees
robot_processes = 4                # built-in robot processes (default: the machine's cores)
claim_timeout_seconds = 60         # a claim not kept alive this long is taken back
max_page_megapixels = 70           # one page's budget: bigger pages are read at a lower dpi
robot_memory_mb = 2048             # address space of each built-in robot process; 0: no limit
barcodes = ["Code128", "QRCode"]   # barcodes read on each page (zxing-cpp's names), or "all"
pdfa = "2b"                        # the `pdfa` output's PDF/A part: 2b or 1b
media_types = ["application/pdf", "image/tiff", "image/png", "image/jpeg"]
```
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from cora_ocr.config import Settings
from cora_ocr.connections import files
from cora_ocr.profile_tables import (
    _KEYS,
    BUILT_IN,
    ENGINES,
    EXTERNAL,
    FORMAT_ALIASES,
    FORMAT_EXTENSIONS,
    MEDIA_TYPES,
    SKIP_TEXT,
    profile_values,
)
from cora_ocr.statuses import Priority

__all__ = [
    "BUILT_IN",
    "ENGINES",
    "EXTERNAL",
    "FORMAT_ALIASES",
    "FORMAT_EXTENSIONS",
    "MEDIA_TYPES",
    "SKIP_TEXT",
    "_KEYS",
]

DEFAULT_PROFILE = "Default"
ERROR_SUFFIX = ".error"
# In a profile's input folder, built-in robot processes claim a document by renaming it into
# `.cora-claims/<owner>/`, and spread a large one's pages as tasks in `.cora-pages/<name>/`
# (robot/hotfolder.py). Hidden, so other robots and the sweep pass them by.
CLAIMS = ".cora-claims"
PAGES = ".cora-pages"
# How often a document was taken back from a robot process that stopped holding it
# (`.cora-taken/<name>`, its count): the second time it is refused, not handed on again.
TAKEN = ".cora-taken"
# Documents whose reading killed two robot processes, waiting to be read once more alone by a
# fresh process (robot/crashes.py).
ALONE = ".cora-alone"
# The built-in robot's heartbeat, beside a profile's output folder (not in it: the hot folders
# hold documents only, for external robots and operators): its age says when the robot was
# last seen (GET /readyz).
HEARTBEAT = ".cora-robot-alive"


# Longest robot file name in bytes: the names derived from it (temp files, `.<stem>.progress`,
# a robot's own temp names) must stay within the 255 bytes file systems allow.
MAX_ROBOT_NAME = 200
_ROBOT_NAME = re.compile(r"(?s)\d+-[0-9a-f]{8}-(.+)")


def job_temp_tag(job_id: int) -> str:
    """Names a job's temporary files, so that a resumed job finds and replaces its own."""
    return f"cora-job{job_id}"


# How a robot's refusal (`<name>.error`) says that it read the document and its engine failed,
# as opposed to a document it cannot read (worker/steps.py tells the two endings apart).
ENGINE_FAILED = "OCR failed"


def robot_file_name(job_id: int, file_name: str, token: str | None = None) -> str:
    """The name a job's document has in the robot's folders: `<job id>-<token>-<FileName>`.

    It belongs to that job alone (the token also tells apart jobs of two databases, or of a
    database that was re-created, sharing one robot), so no two jobs ever meet in a hot
    folder whatever their names, and a resumed job knows its own files by name. A name too
    long is shortened in its stem; the extension, which robots read, is kept.
    """
    prefix = f"{job_id}-{token or secrets.token_hex(4)}-"
    name = prefix + file_name
    if len(name.encode()) <= MAX_ROBOT_NAME:
        return name
    suffix = PurePath(file_name).suffix
    if len(suffix.encode()) > 16:
        suffix = ""
    room = MAX_ROBOT_NAME - len(prefix) - len(suffix.encode())
    stem = file_name.removesuffix(suffix)
    return prefix + stem.encode()[:room].decode("utf-8", "ignore") + suffix


def original_name(robot_name: str) -> str:
    """The caller's FileName inside a robot file name (as it is, for other names)."""
    match = _ROBOT_NAME.fullmatch(robot_name)
    return match.group(1) if match else robot_name


@dataclass(frozen=True)
class Profile:
    name: str
    input_dir: Path
    output_dir: Path
    output_format: str = "alto"
    result_extension: str = ".xml"
    engine: str = BUILT_IN  # or EXTERNAL: a robot of the operator's own reads the folders
    languages: tuple[str, ...] = ("eng",)
    media_types: tuple[str, ...] = field(default=MEDIA_TYPES)
    # Resolution PDF pages are rendered at before recognition.
    dpi: int = 300
    tessdata_dir: Path | None = None  # None: the tessdata-* packages' folder
    rotate_pages: bool = True
    deskew: bool = True
    robot_processes: int = field(default_factory=lambda: os.cpu_count() or 1)
    claim_timeout_seconds: float = 60.0
    # One page's pixel budget (A3 at 600 dpi): a PDF page over it is rendered at the lower dpi
    # that fits, an image scaled down; one that cannot fit is refused (robot/documents.py).
    max_page_megapixels: float = 70.0
    # Each built-in robot process's address space (RLIMIT_AS), in MiB; 0 sets none.
    robot_memory_mb: int = 2048
    # Every format the robot writes, output_format first (its result, at OutPutFile); each
    # other beside it, `<stem><its extension>` (FORMAT_EXTENSIONS), delivered all or none.
    outputs: tuple[str, ...] = ("alto",)
    # PDF pages read from their own text layer instead of OCR (robot/layers.py).
    skip_text: str = "auto"
    # A Completed job whose mean word confidence is under this needs review (None: never).
    review_below: float | None = None
    priority: Priority = Priority.normal  # its jobs' priority unless the caller asks
    # Documents handed to the robot at a time: the rest wait, Queued, where licenses take
    # turns and priorities count (store/job_queries.py: claim). 0: robot_processes + 1, one in
    # each process's hands and one waiting, so that a license's single job waits behind at
    # most that many of another license's on its way through the robot.
    robot_backlog: int = 0
    # Barcode formats read on each page (robot/barcodes.py), or ("all",); none by default.
    barcodes: tuple[str, ...] = ()
    # The PDF/A part of the `pdfa` output (robot/pdfa.py): "2b" or "1b".
    pdfa: str = "2b"

    @property
    def max_page_pixels(self) -> int:
        return int(self.max_page_megapixels * 1_000_000)

    @property
    def backlog(self) -> int:
        return self.robot_backlog or self.robot_processes + 1

    def result_name(self, file_name: str) -> str:
        return PurePath(file_name).stem + self.result_extension

    def extension(self, output_format: str) -> str:
        """The file extension of one of the profile's outputs (the first: result_extension)."""
        if output_format == self.output_format:
            return self.result_extension
        return FORMAT_EXTENSIONS[output_format]

    def extra_result_paths(self, file_name: str) -> dict[str, Path]:
        """Each output but the first, by format: `<stem><its extension>` in output_dir. The
        robot writes them before the first, which says the document is done."""
        stem = PurePath(file_name).stem
        return {form: self.output_dir / (stem + self.extension(form)) for form in self.outputs[1:]}

    def pdfa_path(self, file_name: str) -> Path:
        """Whether the `pdfa` output is PDF/A ("true PDF/A-2b") or why not ("false ...")."""
        return self.output_dir / f".{PurePath(file_name).stem}.pdfa"

    def barcodes_path(self, file_name: str) -> Path:
        """How many barcodes the robot read on the document (hidden, optional)."""
        return self.output_dir / f".{PurePath(file_name).stem}.barcodes"

    def confidence_path(self, file_name: str) -> Path:
        """The word confidences of the result (hidden, like progress; optional for
        third-party robots): JSON, one entry per page (robot/quality.py)."""
        return self.output_dir / f".{PurePath(file_name).stem}.confidence"

    def error_name(self, file_name: str) -> str:
        return PurePath(file_name).stem + ERROR_SUFFIX

    def input_path(self, file_name: str) -> Path:
        return self.input_dir / file_name

    def result_path(self, file_name: str) -> Path:
        return self.output_dir / self.result_name(file_name)

    def heartbeat_path(self) -> Path:
        """`.<output folder's name>.cora-robot-alive` in the output folder's parent."""
        return self.output_dir.parent / f".{self.output_dir.name}{HEARTBEAT}"

    def error_path(self, file_name: str) -> Path:
        return self.output_dir / self.error_name(file_name)

    def progress_path(self, file_name: str) -> Path:
        """`done total` pages, written by the robot while it works (hidden: not a result)."""
        return self.output_dir / f".{PurePath(file_name).stem}.progress"

    def notes_path(self, file_name: str) -> Path:
        """Lines the robot adds to the job's history (a page read at a lower dpi to fit the
        page budget); hidden, like the progress file. Optional for third-party robots."""
        return self.output_dir / f".{PurePath(file_name).stem}.notes"

    def answers(self, file_name: str) -> tuple[Path, ...]:
        """What the robot writes for a document: result, error, progress, notes."""
        return (
            self.result_path(file_name),
            *self.extra_result_paths(file_name).values(),
            self.error_path(file_name),
            self.progress_path(file_name),
            self.notes_path(file_name),
            self.confidence_path(file_name),
            self.barcodes_path(file_name),
            self.pdfa_path(file_name),
        )

    @property
    def claims_dir(self) -> Path:
        return self.input_dir / CLAIMS

    def pages_dir(self, file_name: str) -> Path:
        """Where the pages of a document spread across robot processes are worked on."""
        return self.input_dir / PAGES / file_name

    def taken_back_path(self, file_name: str) -> Path:
        return self.input_dir / TAKEN / file_name

    @property
    def alone_dir(self) -> Path:
        return self.input_dir / ALONE

    def alone_path(self, file_name: str) -> Path:
        return self.alone_dir / file_name

    def claimed(self, file_name: str) -> list[Path]:
        """The document as a robot process has claimed it (normally one path, or none)."""
        try:
            owners = list(os.scandir(self.claims_dir))
        except OSError:
            return []
        found = []
        for owner in owners:
            path = Path(owner.path) / file_name
            if os.path.lexists(path):
                found.append(path)
        return found

    def cleanup(self, file_name: str, job_id: int) -> None:
        """Remove what one job left in the robot's folders: its document (where it waits, or
        where a robot process claimed it, and the temp file it is written through), the
        pages being worked on, and the robot's answers."""
        placed = self.input_path(file_name)
        temp = files.temp_name(placed, job_temp_tag(job_id))
        files.remove_quietly(
            placed,
            temp,
            *self.claimed(file_name),
            *self.answers(file_name),
            self.taken_back_path(file_name),
            self.alone_path(file_name),
        )
        shutil.rmtree(self.pages_dir(file_name), ignore_errors=True)

    def problems(self) -> list[str]:
        """What stops any robot from using this profile: missing or unwritable folders (the
        built-in robot's own needs, its language data, are robot/engine.py's to say)."""
        found = []
        for label, folder in (("input_dir", self.input_dir), ("output_dir", self.output_dir)):
            if not folder.is_dir():
                found.append(f"{label} {folder} does not exist")
            elif not os.access(folder, os.W_OK | os.X_OK):
                found.append(f"{label} {folder} is not writable")
        return found


class Profiles:
    def __init__(self, profiles: Mapping[str, Profile]) -> None:
        self._by_name = dict(profiles)

    @classmethod
    def from_settings(cls, settings: Settings) -> Profiles:
        tables = settings.profiles or {DEFAULT_PROFILE: {}}
        return cls(
            {
                name: Profile(name=name, **profile_values(name, table, settings.data_dir))
                for name, table in tables.items()
            }
        )

    def get(self, name: str) -> Profile | None:
        return self._by_name.get(name)

    def built_in(self) -> list[Profile]:
        """The profiles the built-in robot reads (`serve` runs one pool for all of them)."""
        return [profile for profile in self.all() if profile.engine == BUILT_IN]

    def all(self) -> list[Profile]:
        return [self._by_name[name] for name in sorted(self._by_name)]

    def ensure_folders(self) -> None:
        for profile in self._by_name.values():
            profile.input_dir.mkdir(parents=True, exist_ok=True)
            profile.output_dir.mkdir(parents=True, exist_ok=True)
