"""OCR throughput and hand-off benchmark (issue 15). Prints figures; asserts nothing.

In one run, on the same pages (--pages of mixed text: half single-page PNGs, half in
3-page PDFs, A4 at 150 dpi):

- the engine alone, on one core: TesseractEngine.recognize page after page (orientation
  detection and deskew on, as profiles have them by default);
- the robot pool (robot/pool.py, real processes on the hot folders) with 1 and with N
  processes (N: --processes, default the machine's cores), from the documents landing in the
  input folder to the last result; target: N processes >= 90% of N x one;
- the hand-off: 1-page jobs through SOAP FileBatch, the worker and the built-in robot, from
  the job's creation to Completed (its history's timestamps), minus the engine's time on that
  page; target: median under 100 ms;
- OCRmyPDF (`ocrmypdf --jobs N --rotate-pages --deskew`) on the same pages as one PDF. It is
  installed for the bench only, in .venv-ocrmypdf (PyPI ocrmypdf; Debian tesseract-ocr and
  ghostscript), never in the project's venv;
- born-digital pages (issue 28): a PDF with a text layer and no image, read from its layer
  (skip_text "auto") against OCR of the same pages; target: 10x;
- memory (issue 37): the corpus through `cora-ocr serve` on its shipped defaults, uploaded
  through REST: the peak of the resident memory of serve and its robot processes together
  (sampled every 50 ms); target: under 1.5 GB;
- PDF/A (issue 38): the PDF/A step's time per page against the searchable PDF's; target: under
  10%;
- barcodes (issue 38): zxing-cpp's time per A4 page at 300 dpi, with and without a code;
  target: under 100 ms;
- real shapes (issue 24): the corpus of tests/support/corpus.py (blank, label, receipt, 600 dpi, A3,
  30000 px, 100- and 200-inch pages, CCITT, CMYK, alpha, 16-bit, JPEG 2000, broken and
  encrypted PDFs, turned and skewed pages...) through the robot pool with the default page
  budget and memory limit: documents that ended as expected out of N, pages/s, the peak RSS of
  the largest robot process; and OCRmyPDF on the same files, one run each.

    .venv/bin/python bench/ocr.py [--pages 40] [--processes N] [--handoffs 15]
                                    [--only shapes|born-digital|memory|barcodes|pdfa]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from cora_ocr.profiles import Profile
from cora_ocr.robot import samples
from cora_ocr.robot.documents import open_document
from cora_ocr.robot.engine import PageResult, TesseractEngine
from cora_ocr.robot.pool import RobotPool
from cora_ocr.robot.render import words_of_alto

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the corpus lives with the tests
from tests.support.corpus import SHAPES, Shape  # noqa: E402

OCRMYPDF_VENV = ROOT / ".venv-ocrmypdf"
DPI = 150


def make_documents(folder: Path, pages: int) -> list[Path]:
    """Half the pages as single-page PNGs, the rest as 3-page PDFs, like a mixed inbox."""
    documents: list[Path] = []
    pngs = pages // 2
    for n in range(pngs):
        documents.append(samples.write_png(folder / f"page{n:03}.png", samples.sample_lines(n)))
    left, n = pages - pngs, 0
    while left > 0:
        count = min(3, left)
        content = [samples.sample_lines(1000 + n * 3 + k) for k in range(count)]
        documents.append(samples.write_pdf(folder / f"doc{n:03}.pdf", content))
        left, n = left - count, n + 1
    return documents


def page_images(documents: list[Path]) -> list[Image.Image]:
    images = []
    for path in documents:
        with open_document(path, ("application/pdf", "image/png"), DPI) as document:
            images.extend(page.copy() for page in document.pages())
    return images


def engine_alone(images: list[Image.Image], upright: bool = False) -> float:
    """Seconds per page, one process, one core (upright: orientation detection and deskew
    off, to show what they cost)."""
    engine = TesseractEngine(("eng",), rotate_pages=not upright, deskew=not upright)
    try:
        engine.recognize(images[0], 1)  # warm
        started = time.perf_counter()
        for number, image in enumerate(images, 1):
            engine.recognize(image, number)
        return (time.perf_counter() - started) / len(images)
    finally:
        engine.close()


def pool_run(base: Path, documents: list[Path], processes: int) -> float:
    """Seconds from the documents landing in the input folder to the last result."""
    profile = Profile(
        "Bench",
        base / f"in{processes}",
        base / f"out{processes}",
        dpi=DPI,
        robot_processes=processes,
    )
    profile.input_dir.mkdir()
    profile.output_dir.mkdir()
    pool = RobotPool(profile, processes)
    runner = threading.Thread(target=pool.run, daemon=True)
    runner.start()
    # Every process has loaded its engine and looked once (its claims folder is its sign).
    deadline = time.monotonic() + 120
    while len(list(profile.claims_dir.glob("*"))) < processes:
        assert time.monotonic() < deadline, "the pool did not start"
        time.sleep(0.1)
    time.sleep(1.0)
    staged = base / f"staged{processes}"
    staged.mkdir()
    for path in documents:
        shutil.copy(path, staged / path.name)
    started = time.perf_counter()
    for path in documents:  # a rename: each lands whole
        os.rename(staged / path.name, profile.input_dir / path.name)
    expected = {profile.result_name(path.name) for path in documents}
    while not expected <= {p.name for p in profile.output_dir.iterdir()}:
        time.sleep(0.01)
    took = time.perf_counter() - started
    pool.stop()
    runner.join()
    return took


class TimedEngine(TesseractEngine):
    """The engine, timing each page it recognises."""

    def __init__(self, languages: tuple[str, ...]) -> None:
        super().__init__(languages)
        self.seconds: list[float] = []

    def recognize(self, image: Image.Image, number: int, want_hocr: bool = False) -> PageResult:
        started = time.perf_counter()
        try:
            return super().recognize(image, number, want_hocr)
        finally:
            self.seconds.append(time.perf_counter() - started)


def handoffs(base: Path, count: int) -> tuple[list[float], list[float]]:
    """Per 1-page job: (Completed - created) minus the engine's time on that job's page, in
    seconds; and the engine's times. The robot runs in a thread here, as it did in serve
    before the pool (libtesseract lets go of the GIL while it recognises)."""
    import requests

    from cora_ocr.config import DEFAULT_CONNECTION, Settings
    from cora_ocr.host.app import create_app
    from cora_ocr.host.server import make_server, stop_server
    from cora_ocr.robot.hotfolder import Robot
    from cora_ocr.services import build_services
    from cora_ocr.store import Store
    from cora_ocr.store.migrate import upgrade

    root = base / "connection"
    (root / "in").mkdir(parents=True)
    page = samples.sample_lines(77)
    samples.write_png(root / "in" / "one.png", page)
    settings = Settings(
        data_dir=base / "data",
        connections={DEFAULT_CONNECTION: root},
        allow_anonymous=True,
        require_https=False,
        profiles={"Default": {"dpi": DPI, "robot_processes": 1}},
    )
    store = Store(f"sqlite:///{base / 'handoff.db'}")
    upgrade(store.engine)
    services = build_services(settings, store)
    services.profiles.ensure_folders()
    server = make_server(create_app(services), "127.0.0.1", 0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    worker = services.worker()
    threading.Thread(target=worker.run, daemon=True).start()
    profile = services.profiles.get("Default")
    assert profile is not None
    robot = Robot(profile, engine_factory=lambda p: TimedEngine(p.languages))
    threading.Thread(target=robot.run, daemon=True).start()
    engine = robot.engine
    assert isinstance(engine, TimedEngine)
    url = (
        f"http://127.0.0.1:{server.effective_port}/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
    )
    ns = "http://genpact.com/cora/orchestration/ocr/1.0.0/api/"
    durations = []
    try:
        for n in range(count):
            ref = (
                "<{t}><Connection>CoraOCRExternalConnection</Connection><RelativeLocation>{d}"
                "</RelativeLocation><FileName>{f}</FileName></{t}>"
            )
            body = (
                '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                f'<FileBatch xmlns="{ns}"><TimeOut>600</TimeOut>'
                "<ExternalContext>b</ExternalContext>"
                + ref.format(t="InputFile", d="in", f="one.png")
                + "<OCRProfile>Default</OCRProfile>"
                + ref.format(t="OutPutFile", d="out", f=f"one{n}.xml")
                + "<PutModel>Overwrite</PutModel></FileBatch></soap:Body></soap:Envelope>"
            )
            reply = requests.post(
                url,
                data=body.encode(),
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": f'"{ns}FileBatch"',
                },
                timeout=30,
            )
            reply.raise_for_status()
            found = re.search(r"MasterWorkflowInstanceId>(\d+)<", reply.text)
            assert found, reply.text
            job_id = int(found.group(1))
            deadline = time.monotonic() + 60
            while True:
                job = services.jobs.show(job_id)
                if job.state in ("completed", "failed"):
                    break
                assert time.monotonic() < deadline, f"job {job_id} did not finish"
                time.sleep(0.02)
            assert job.state == "completed", job.error_reason
            created = job.events[0].at
            completed = job.events[-1].at
            durations.append((completed - created).total_seconds() - engine.seconds[-1])
            if os.environ.get("BENCH_OCR_EVENTS"):
                print(
                    [(e.to_state, round((e.at - created).total_seconds(), 3)) for e in job.events]
                )
            time.sleep(0.5)  # everyone idle again, as a lone job finds them
    finally:
        robot.stop()
        worker.stop()
        stop_server(server, loop_running=True)
        time.sleep(1)
        robot.close()
        store.dispose()
    return durations, engine.seconds


def ocrmypdf(base: Path, images: list[Image.Image], processes: int) -> float | str:
    """Seconds for OCRmyPDF on the same pages as one PDF, or why it could not run."""
    if not (OCRMYPDF_VENV / "bin" / "ocrmypdf").exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(OCRMYPDF_VENV)], check=True)
            subprocess.run(
                [str(OCRMYPDF_VENV / "bin" / "pip"), "install", "-q", "ocrmypdf"], check=True
            )
        except subprocess.CalledProcessError as exc:
            return f"not installed ({exc})"
    for tool in ("tesseract", "gs"):
        if shutil.which(tool) is None:
            return f"needs Debian tesseract-ocr and ghostscript ({tool} missing)"
    source = base / "all.pdf"
    rgb = [image.convert("RGB") for image in images]
    rgb[0].save(source, format="PDF", save_all=True, append_images=rgb[1:], resolution=DPI)
    command = [
        str(OCRMYPDF_VENV / "bin" / "ocrmypdf"),
        "--jobs",
        str(processes),
        "--rotate-pages",
        "--deskew",
        "--optimize",
        "0",
        "--output-type",
        "pdf",
        "-q",
        str(source),
        str(base / "ocrmypdf-out.pdf"),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        return f"failed: {done.stderr.strip()[-200:]}"
    return took


def _peak_rss(pids: list[int]) -> int:
    """The largest peak resident set (VmHWM, KiB) among live processes `pids`."""
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return peak


def _as_expected(shape: Shape, result: Path, error: Path) -> bool:
    if shape.refused is not None:
        return error.exists() and shape.refused in error.read_text()
    if not result.exists():
        return False
    read = " ".join(words_of_alto(result.read_bytes()))
    if not shape.text:
        return read == ""
    return samples.character_error_rate(" ".join(shape.text), read) < 0.02


def real_shapes(base: Path, processes: int) -> tuple[int, int, float, int]:
    """The corpus through a robot pool: (as expected, documents, pages/s, peak RSS in KiB)."""
    profile = Profile(
        "Shapes", base / "shapes-in", base / "shapes-out", dpi=DPI, robot_processes=processes
    )
    profile.input_dir.mkdir()
    profile.output_dir.mkdir()
    staged = base / "shapes"
    staged.mkdir(exist_ok=True)
    names = {}
    for number, shape in enumerate(SHAPES, 1):
        names[shape.name] = f"{number}-{number:08x}-{shape.name}"
        (staged / names[shape.name]).write_bytes(shape.make())
    pool = RobotPool(profile, processes)
    runner = threading.Thread(target=pool.run, daemon=True)
    runner.start()
    while len(list(profile.claims_dir.glob("*"))) < processes:
        time.sleep(0.1)
    started, peak = time.perf_counter(), 0
    for name in names.values():
        os.rename(staged / name, profile.input_dir / name)
    while not all(any(p.exists() for p in profile.answers(n)[:2]) for n in names.values()):
        peak = max(peak, _peak_rss(pool.pids))
        time.sleep(0.05)
    took = time.perf_counter() - started
    pool.stop()
    runner.join()
    good = sum(_as_expected(shape, *profile.answers(names[shape.name])[:2]) for shape in SHAPES)
    pages = sum(shape.pages for shape in SHAPES if shape.refused is None)
    return good, len(SHAPES), pages / took, peak


# Runs a command and prints the peak RSS (KiB) of its process tree's largest process.
_PEAK = (
    "import resource, subprocess, sys; "
    "done = subprocess.run(sys.argv[1:], capture_output=True); "
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def ocrmypdf_shapes(base: Path, processes: int) -> str:
    """OCRmyPDF on each corpus file: how many it read, pages/s, its peak RSS."""
    if not (OCRMYPDF_VENV / "bin" / "ocrmypdf").exists() or shutil.which("gs") is None:
        return "not installed (run the whole bench once, with Debian tesseract-ocr and ghostscript)"
    folder = base / "shapes-ocrmypdf"
    folder.mkdir()
    failed, pages, peak, started = [], 0, 0, time.perf_counter()
    for shape in SHAPES:
        source = folder / shape.name
        source.write_bytes(shape.make())
        command = [sys.executable, "-c", _PEAK, str(OCRMYPDF_VENV / "bin" / "ocrmypdf")]
        command += ["--jobs", str(processes), "--rotate-pages", "--deskew", "--optimize", "0"]
        command += ["--skip-text"]  # born-digital pages: kept as they are, not an error
        command += ["-q", "--image-dpi", str(DPI), str(source), str(folder / f"{shape.name}.pdf")]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        code, rss = (int(part) for part in done.stdout.split())
        peak = max(peak, rss)
        if code == 0:
            pages += shape.pages
        else:
            failed.append(shape.name)
    took = time.perf_counter() - started
    return (
        f"{len(SHAPES) - len(failed)} of {len(SHAPES)} read (no text check), "
        f"{pages / took:5.2f} pages/s, peak RSS {peak / 1024:.0f} MB; "
        f"refused or failed: {', '.join(failed) or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--handoffs", type=int, default=15)
    parser.add_argument(
        "--corpus",
        type=Path,
        help="memory: also every file of this folder (e.g. OCRmyPDF's tests/resources)",
    )
    parser.add_argument(
        "--only",
        choices=["shapes", "born-digital", "memory", "barcodes", "pdfa"],
        help="run only this part",
    )
    args = parser.parse_args()
    n = args.processes
    if args.only == "barcodes":
        print_barcodes()
        return
    if args.only == "pdfa":
        with tempfile.TemporaryDirectory(prefix="cora-bench-ocr-") as tmp:
            print_pdfa(Path(tmp), args.pages)
        return
    if args.only == "memory":
        with tempfile.TemporaryDirectory(prefix="cora-bench-ocr-") as tmp:
            print_serve_memory(Path(tmp), args.corpus)
        return
    if args.only == "shapes":
        with tempfile.TemporaryDirectory(prefix="cora-bench-ocr-") as tmp:
            print_shapes(Path(tmp), n)
        return
    if args.only == "born-digital":
        with tempfile.TemporaryDirectory(prefix="cora-bench-ocr-") as tmp:
            print_born_digital(Path(tmp), args.pages)
        return
    with tempfile.TemporaryDirectory(prefix="cora-bench-ocr-") as tmp:
        base = Path(tmp)
        (base / "docs").mkdir()
        documents = make_documents(base / "docs", args.pages)
        images = page_images(documents)
        print(
            f"{len(images)} pages (A4, 150 dpi, mixed PNG and 3-page PDFs); {os.cpu_count()} cores;"
            f" pool of 1 and {n} processes",
            flush=True,
        )
        per_page = engine_alone(images)
        print(f"engine alone, 1 core      : {1 / per_page:6.2f} pages/s", flush=True)
        bare = engine_alone(images, upright=True)
        print(
            f"  without rotate/deskew   : {1 / bare:6.2f} pages/s (they cost"
            f" {per_page / bare - 1:+.0%})",
            flush=True,
        )
        one = pool_run(base, documents, 1)
        print(f"robot pool, 1 process     : {len(images) / one:6.2f} pages/s ({one:.1f} s)")
        many = pool_run(base, documents, n)
        scaling = one / many / n
        print(
            f"robot pool, {n} processes    : {len(images) / many:6.2f} pages/s ({many:.1f} s);"
            f" {scaling:.0%} of {n} x one (target: 90%)",
            flush=True,
        )
        theirs = ocrmypdf(base, images, n)
        if isinstance(theirs, float):
            print(
                f"ocrmypdf --jobs {n}        : {len(images) / theirs:6.2f} pages/s ({theirs:.1f} s)"
            )
        else:
            print(f"ocrmypdf --jobs {n}        : {theirs}")
        overheads, engine = handoffs(base, args.handoffs)
        overheads.sort()
        print(
            f"1-page job, FileBatch to Completed minus the engine's time on its page"
            f" ({statistics.median(engine) * 1000:.0f} ms median): median"
            f" {statistics.median(overheads) * 1000:.0f} ms, max {overheads[-1] * 1000:.0f} ms"
            " (target: median under 100 ms)"
        )
        print_born_digital(base, args.pages)
        print_shapes(base, n)


def born_digital(base: Path, pages: int) -> tuple[float, float, bool]:
    """Pages/s of a born-digital PDF (20 lines of text a page, fpdf2) read from its text
    layer (skip_text "auto", as the robot reads it), and OCRed (skip_text "never": rendered
    at 150 dpi and recognised, one core); whether the layer's words are the text's exactly."""
    lines = [samples.sample_lines(seed=number, count=20) for number in range(pages)]
    path = samples.write_born_digital_pdf(base / "born-digital.pdf", lines)
    with open_document(path, ("application/pdf",), DPI) as document:
        document.layer(1, "auto")  # warm
        started = time.perf_counter()
        read = [document.layer(number, "auto") for number in range(1, pages + 1)]
        layer = time.perf_counter() - started
        exact = all(
            page is not None and page.text.split("\n")[:-1] == page_lines
            for page, page_lines in zip(read, lines, strict=True)
        )
        engine = TesseractEngine(("eng",))
        try:
            engine.recognize(document.page(1), 1)  # warm
            started = time.perf_counter()
            for number in range(1, pages + 1):
                engine.recognize(document.page(number), number)
            ocr = time.perf_counter() - started
        finally:
            engine.close()
    return pages / layer, pages / ocr, exact


def print_born_digital(base: Path, pages: int) -> None:
    layer, ocr, exact = born_digital(base, pages)
    print(
        f"born-digital PDF, {pages} pages: text layer {layer:8.1f} pages/s, OCR of the same"
        f" pages {ocr:5.2f} pages/s: {layer / ocr:.0f}x (target: 10x); the layer's text"
        f" {'exact' if exact else 'NOT exact'}",
        flush=True,
    )


def _tree(root: int) -> list[int]:
    """`root` and every process under it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def serve_memory(base: Path, corpus: Path | None = None) -> tuple[int, int, int, float]:
    """The corpus through `cora-ocr serve` on its shipped defaults (no settings file: the
    Default profile, robot_processes = the cores, the default page budget and memory limit),
    each shape uploaded through REST: (documents ended as expected, documents, peak resident
    memory of serve's whole process tree in KiB, seconds)."""
    import requests

    port = _free_port()
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(base / "serve"),
        "CORA_OCR_PORT": str(port),
        "CORA_OCR_ACCESS_LOG": "false",
    }
    serve = subprocess.Popen(
        [str(Path(sys.executable).parent / "cora-ocr"), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peak, expected = 0, 0
    try:
        assert serve.stdout is not None and "serving" in serve.stdout.readline()
        api = f"http://127.0.0.1:{port}/api/v1/jobs"
        started = time.perf_counter()
        jobs = {}
        documents = [(shape.name, shape.make()) for shape in SHAPES]
        if corpus is not None:
            documents += [(path.name, path.read_bytes()) for path in sorted(corpus.iterdir())]
        for name, data in documents:
            created = requests.post(api, files={"file": (name, data)}, timeout=60)
            if created.status_code == 201:
                jobs[name] = created.json()["id"]
            peak = max(peak, sum(_rss_kib(pid) for pid in _tree(serve.pid)))
        ended: dict[str, dict[str, object]] = {}
        while len(ended) < len(jobs):
            peak = max(peak, sum(_rss_kib(pid) for pid in _tree(serve.pid)))
            for name, job_id in jobs.items():
                if name not in ended:
                    job = requests.get(f"{api}/{job_id}", timeout=30).json()
                    if job["status"] not in ("Queued", "Throttled", "Processing"):
                        ended[name] = job
            time.sleep(0.05)
        took = time.perf_counter() - started
        for shape in SHAPES:
            job = ended.get(shape.name)
            if job is not None:
                expected += (job["status"] == "Completed") == (shape.refused is None)
        names = {shape.name for shape in SHAPES}
        others = [str(job["status"]) for name, job in ended.items() if name not in names]
        if others:
            counted = {status: others.count(status) for status in sorted(set(others))}
            print(f"  the folder's {len(others)} documents ended: {counted}", flush=True)
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    return expected, len(SHAPES), peak, took


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def print_serve_memory(base: Path, corpus: Path | None = None) -> None:
    good, total, peak, took = serve_memory(base, corpus)
    print(
        f"serve on its shipped defaults ({os.cpu_count()} cores), the corpus"
        f"{' and ' + str(corpus) if corpus else ''} through REST: "
        f"{good} of {total} documents ended as expected in {took:.0f} s; peak resident memory "
        f"of serve and its robots together {peak / 1024:.0f} MB (target: under 1536 MB)",
        flush=True,
    )


def print_pdfa(base: Path, count: int) -> None:
    """The PDF/A step's share of a page's time: Tesseract's searchable PDF of `count` A4 pages
    at 150 dpi, then robot/pdfa.py's conversion of it, per page (median of 3)."""
    from cora_ocr.robot.pdfa import convert

    pages = []
    for seed in range(count):
        page = samples.render_page(samples.sample_lines(seed=3000 + seed, count=20)).convert("L")
        page.info["dpi"] = (DPI, DPI)
        pages.append(page)
    engine = TesseractEngine(("eng",))
    try:
        started = time.perf_counter()
        engine.searchable_pdf(iter(pages), DPI, base)
        ocr = (time.perf_counter() - started) / count
    finally:
        engine.close()
    source = (base / "result.pdf").read_bytes()
    for part in ("1b", "2b"):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            convert(source, part, "bench.pdf", "cora_ocr")
            times.append((time.perf_counter() - started) / count)
        step = statistics.median(times)
        print(
            f"PDF/A-{part}, {count} A4 pages at {DPI} dpi: searchable PDF {ocr * 1000:.0f} ms a"
            f" page, the PDF/A step {step * 1000:.1f} ms a page ({step / ocr:.1%}; target: under"
            " 10%)",
            flush=True,
        )


def print_barcodes() -> None:
    """zxing-cpp on A4 pages at 300 dpi (every format, its rotation search on): 40 pages of
    text without a code, and pages with a Code 128, a QR code and a DataMatrix; per page."""
    from cora_ocr.robot.barcodes import read_codes
    from tests.support.barcodes import code_page

    plain = [
        samples.render_page(samples.sample_lines(seed=2000 + n, count=20))
        .convert("L")
        .resize((2480, 3508))
        for n in range(40)
    ]
    names = ("Code128", "QRCode", "DataMatrix")
    coded = [code_page(name, 300, turn) for name in names for turn in (0, 90)]
    for formats in (("all",), ("Code128", "Code39", "QRCode", "DataMatrix")):
        for label, pages in (("without codes", plain), ("with a code", coded)):
            read_codes(pages[0], formats)  # warm
            started = time.perf_counter()
            found = sum(len(read_codes(page, formats)) for page in pages)
            each = (time.perf_counter() - started) / len(pages) * 1000
            print(
                f"barcodes ({', '.join(formats)}), {len(pages)} A4 pages at 300 dpi {label}:"
                f" {each:.0f} ms a page (target: under 100), {found} codes found",
                flush=True,
            )


def print_shapes(base: Path, processes: int) -> None:
    good, total, rate, peak = real_shapes(base, processes)
    print(
        f"real shapes, {processes} processes : {good} of {total} documents as expected,"
        f" {rate:5.2f} pages/s, largest robot process peak RSS {peak / 1024:.0f} MB",
        flush=True,
    )
    print(f"  ocrmypdf, each file      : {ocrmypdf_shapes(base, processes)}", flush=True)


if __name__ == "__main__":
    main()
