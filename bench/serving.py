"""The serving benchmark behind bench/run. Prints a table; asserts nothing.

The production topology: nginx on the configuration `cora-ocr nginx-config` prints, in front
of `cora-ocr web` (--server: granian, or gunicorn's sync workers, gthread with --threads over
1), on a Unix socket as deploy/ runs it (--transport tcp: on loopback TCP); wrk drives nginx
with 64 connections on 2 threads. The ceiling is a bare WSGI app answering the same bytes to
the same request under the same server, process and thread count, behind an nginx of the
same configuration, kept running beside it and measured in turn with every run, so that each
ratio compares runs minutes apart at most on a machine whose speed drifts. Each figure is
the median of --rounds runs.

The peer ("stock Spyne peer"): SOAP 1.1 GetStatus answered by the app a team would write from
Spyne's documentation (bench/spyne_peer.py: stock Spyne, a SQLAlchemy ORM session per
request), on the same database, nginx and transport, under gunicorn (whose deployment guide
puts it on a Unix socket behind nginx), measured the same way.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from cora_ocr.config import WEB_SERVERS, Settings

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SERVICE = "/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
TNS = "http://genpact.com/cora/orchestration/ocr/1.0.0/api/"
PG_URL = os.environ.get(
    "CORA_OCR_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CONNECTIONS, THREADS = 64, 2


def envelope(
    body: str, header: str = "", ns: str = "http://schemas.xmlsoap.org/soap/envelope/"
) -> str:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return f'<soap:Envelope xmlns:soap="{ns}">{head}<soap:Body>{body}</soap:Body></soap:Envelope>'


def lua(method: str, headers: dict[str, str], body: str) -> str:
    lines = [f'wrk.method = "{method}"']
    lines += [f'wrk.headers["{k}"] = [[{v}]]' for k, v in headers.items()]
    lines.append(f"wrk.body = [[{body}]]")
    return "\n".join(lines) + "\n"


def scripts(job_id: int, auth: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """Operation -> (path and query, wrk script or None for a plain GET)."""
    header = (
        f'<ActivityMetadata xmlns="{TNS}"><MasterWorkflowInstanceId>{job_id}'
        "</MasterWorkflowInstanceId></ActivityMetadata>"
    )
    get_status = f'<GetStatus xmlns="{TNS}"/>'
    ref = (
        "<{t}><Connection>CoraOCRExternalConnection</Connection><RelativeLocation>in"
        "</RelativeLocation><FileName>{n}</FileName></{t}>"
    )
    file_batch = (
        f'<FileBatch xmlns="{TNS}"><TimeOut>600</TimeOut><ExternalContext>bench'
        f"</ExternalContext>{ref.format(t='InputFile', n='a.png')}<OCRProfile>Default"
        f"</OCRProfile>{ref.format(t='OutPutFile', n='a.xml')}<PutModel>Overwrite"
        "</PutModel></FileBatch>"
    )
    soap11 = {"Content-Type": "text/xml; charset=utf-8", **auth}
    http_get = f"{SERVICE}/GetStatus?MasterWorkflowInstanceId={job_id}"
    return {
        "SOAP 1.1 GetStatus": (
            SERVICE,
            lua(
                "POST", {**soap11, "SOAPAction": f'"{TNS}GetStatus"'}, envelope(get_status, header)
            ),
        ),
        "SOAP 1.2 GetStatus": (
            SERVICE,
            lua(
                "POST",
                {"Content-Type": "application/soap+xml; charset=utf-8", **auth},
                envelope(get_status, header, "http://www.w3.org/2003/05/soap-envelope"),
            ),
        ),
        "HTTP GET GetStatus": (http_get, lua("GET", auth, "") if auth else None),
        "FileBatch": (
            SERVICE,
            lua("POST", {**soap11, "SOAPAction": f'"{TNS}FileBatch"'}, envelope(file_batch)),
        ),
    }


@dataclass
class Result:
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"wrk printed a latency of {value!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(port: int, path: str, script: str | None, seconds: int, workdir: Path) -> Result:
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if script is not None:
        script_file = workdir / "script.lua"
        script_file.write_text(script)
        command += ["-s", str(script_file)]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Result(
        requests=int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=to_ms(re.search(r"^\s+50%\s+(\S+)$", output, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=to_ms(re.search(r"^\s+99%\s+(\S+)$", output, re.M).group(1)),  # type: ignore[union-attr]
        errors=(int(errors.group(1)) if errors else 0)
        + (sum(int(g) for g in socket_errors.groups()) if socket_errors else 0),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Where a web server listens: a loopback TCP port, or a Unix socket's path.
Place = int | Path


def place(args: argparse.Namespace, workdir: Path, name: str) -> Place:
    return workdir / f"{name}.sock" if args.transport == "socket" else free_port()


def address(where: Place) -> str:
    """Its name for nginx's `server` and gunicorn's `-b` alike."""
    return f"unix:{where}" if isinstance(where, Path) else f"127.0.0.1:{where}"


def wait_listening(where: Place) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if isinstance(where, Path):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(0.2)
                    probe.connect(str(where))
            else:
                socket.create_connection(("127.0.0.1", where), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {where}")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, command: list[str], env: dict[str, str], where: Place) -> None:
        self.process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.where = where
        wait_listening(where)
        time.sleep(1)  # every worker forked and loaded

    def worker_rss(self) -> list[float]:
        return [round(rss_mb(pid), 1) for pid in children(self.process.pid)]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


COLUMNS = (
    "gen_series",
    "state",
    "error_code",
    "external_context",
    "timeout_seconds",
    "input_connection",
    "input_location",
    "input_name",
    "ocr_profile",
    "output_connection",
    "output_location",
    "output_name",
    "put_model",
    "created_at",
    "updated_at",
    "stalls",
)


def fill(url: str, target: int) -> int:
    """Grow the jobs table to `target` rows in one statement; returns a job id in the middle."""
    engine = create_engine(url)
    with engine.begin() as conn:
        have = conn.execute(text("SELECT count(*) FROM jobs")).scalar_one()
        missing = target - have
        if missing > 0:
            values = (
                "'queued', 'NoError', 'bench-' || x, 600, 'CoraOCRExternalConnection', 'in',"
                " 'a.png', 'Default', 'CoraOCRExternalConnection', 'out', 'a.xml',"
                " 'Overwrite', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0"
            )
            columns = ", ".join(COLUMNS[1:])
            if engine.dialect.name == "postgresql":
                conn.execute(
                    text(
                        f"INSERT INTO jobs ({columns}) SELECT {values} "
                        f"FROM generate_series(1, {missing}) AS x"
                    )
                )
                conn.execute(text("ANALYZE jobs"))
            else:
                conn.execute(
                    text(
                        f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
                        f"WHERE x < {missing}) INSERT INTO jobs ({columns}) "
                        f"SELECT {values} FROM n"
                    )
                )
        middle = conn.execute(
            text("SELECT min(id) + (max(id) - min(id)) / 2 FROM jobs")
        ).scalar_one()
    engine.dispose()
    return int(middle)


def licensed_caller(env: dict[str, str]) -> dict[str, str]:
    """A license with a quota the bench cannot exhaust, and its Basic credentials."""

    def cli(*args: str) -> str:
        return subprocess.run(
            [str(VENV_BIN / "cora-ocr"), *args], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    license_id = cli("licenses", "create", "bench", "--requests-per-hour", "1000000000")
    app_id = cli("apps", "create", license_id, "bench")
    token = base64.b64encode(f"{license_id}:{app_id}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def database_url(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS cora_bench CASCADE"))
        conn.execute(text("CREATE SCHEMA cora_bench"))
    engine.dispose()
    return f"{PG_URL}?options=-csearch_path%3Dcora_bench"


@dataclass
class Row:
    database: str
    jobs: int
    operation: str
    result: Result
    ratio: float  # of the ceiling measured alongside

    @property
    def name(self) -> str:
        return f"{self.database}, {self.jobs} jobs, {self.operation}"


def median_result(results: list[Result]) -> Result:
    """The median of each figure over repeated runs (a shared 2-core machine is noisy)."""
    return Result(
        requests=sum(r.requests for r in results),
        rate=statistics.median(r.rate for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
    )


def worker_class(threads: int) -> str:
    """gunicorn's worker class for `threads`, as `cora-ocr web` chooses it."""
    return "gthread" if threads > 1 else "sync"


def gunicorn(args: argparse.Namespace, where: Place) -> list[str]:
    """gunicorn as `cora-ocr web` runs it: the same worker class, processes and threads."""
    return [
        str(VENV_BIN / "gunicorn"),
        *("-w", str(args.workers), "-k", worker_class(args.threads)),
        *("--threads", str(args.threads), "-b", address(where)),
    ]


def describe_server(args: argparse.Namespace) -> str:
    if args.server == "granian":
        return f"granian {args.workers} processes x {args.threads} Python thread(s)"
    return f"gunicorn {args.workers} processes, {worker_class(args.threads)} x {args.threads}"


def serving(args: argparse.Namespace, where: Place, target: str) -> list[str]:
    """The web server of this run (`--server`) on `target` (a module of bench/: app)."""
    if args.server == "granian":
        listen = (
            ["--uds", str(where)]
            if isinstance(where, Path)
            else ["--host", "127.0.0.1", "--port", str(where)]
        )
        return [
            str(VENV_BIN / "granian"),
            *("--interface", "wsgi", *listen),
            *("--workers", str(args.workers), "--blocking-threads", str(args.threads)),
            *("--log-level", "error", "--working-dir", str(ROOT / "bench"), target),
        ]
    return [*gunicorn(args, where), "--chdir", str(ROOT / "bench"), target]


class Front:
    """nginx on the configuration `cora-ocr nginx-config` prints, in front of `upstream`."""

    def __init__(self, env: dict[str, str], where: Place, folder: Path) -> None:
        folder.mkdir(parents=True)
        self.port = free_port()
        user = ["--user", "root"] if os.geteuid() == 0 else []
        config = subprocess.run(
            [
                *(str(VENV_BIN / "cora-ocr"), "nginx-config", "--listen", f"127.0.0.1:{self.port}"),
                *("--upstream", address(where), "--run-dir", str(folder), *user),
            ],
            env={**env, "CORA_OCR_REQUIRE_HTTPS": "false"},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (folder / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "stderr.log").open("wb"),
        )
        try:
            wait_listening(self.port)
        except RuntimeError:
            raise RuntimeError((folder / "stderr.log").read_text()) from None

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=30)


NGINX = "/usr/sbin/nginx"


class Ceiling:
    """The bare WSGI app under the same server, process and thread count, kept running on
    its own port, measured in turn with each figure so that both see the same machine."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        where = place(args, workdir, "ceiling")
        self.workdir = workdir
        env = {**os.environ, "CORA_OCR_WEB_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
        self.server = Server(serving(args, where, "bare_app:app"), env, where)
        try:
            self.front = Front(env, where, workdir / "nginx-ceiling")
        except Exception:
            self.server.stop()
            raise
        self.script = lua("POST", {"Content-Type": "text/xml"}, "x")
        self.runs: list[Result] = []
        run_wrk(self.front.port, SERVICE, self.script, 1, workdir)  # warm-up

    def stop(self) -> None:
        self.front.stop()
        self.server.stop()

    def measure(self, seconds: int, path: str = SERVICE, script: str | None = None) -> Result:
        """The ceiling for a request: the same path, headers and body as the operation it is
        compared with (credentials included), so that nginx and the server parse and pass on
        the same bytes both ways; only the app's work differs."""
        result = run_wrk(self.front.port, path, script or self.script, seconds, self.workdir)
        self.runs.append(result)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs per figure, alternating with the ceiling"
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument(
        "--workers",
        type=int,
        default=Settings().web_workers,
        help="gunicorn processes, for the service and the ceiling alike (default: the"
        " setting's default, cores + 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=Settings().web_threads,
        help="threads per process (default: the setting's default; 1: gunicorn's sync "
        "worker, more: gthread)",
    )
    parser.add_argument(
        "--server",
        choices=WEB_SERVERS,
        default=Settings().web_server,
        help="`cora-ocr web`'s server (the `web_server` setting), for the service and the"
        " ceiling alike; the peer runs under gunicorn's sync workers, as its documentation"
        " deploys it",
    )
    parser.add_argument(
        "--status-reads",
        default=Settings().status_reads,
        help="GetStatus read paths to measure, comma-separated (core, compiled, kept: the "
        "`status_reads` setting); more than one: each is a row of its own",
    )
    parser.add_argument(
        "--operations",
        default="",
        help="only the operations whose names contain one of these comma-separated words "
        "(and no memory figures)",
    )
    parser.add_argument(
        "--transport",
        choices=("socket", "tcp"),
        help="how nginx reaches the web servers (service, ceiling and peer alike): a Unix"
        " socket, as deploy/ runs `web` (the default with --licensed), or loopback TCP (the"
        " default for anonymous callers: the socket's peer is a trusted proxy, and a caller"
        " through a proxy is never the anonymous local setup)",
    )
    parser.add_argument(
        "--licensed",
        action="store_true",
        help="call with License ID + App ID (authentication and quota counting"
        " on every request) instead of the anonymous local setup",
    )
    args = parser.parse_args()
    if args.transport is None:
        args.transport = "socket" if args.licensed else "tcp"
    elif args.transport == "socket" and not args.licensed:
        parser.error("--transport socket needs --licensed: anonymous callers come only direct")
    print(
        f"wrk {THREADS} threads x {CONNECTIONS} connections; each figure the median of "
        f"{args.rounds} runs of {args.seconds} s, each run next to one of the ceiling; "
        f"behind nginx (`cora-ocr nginx-config`: HTTP/1.1 upstream on "
        f"{'a Unix socket' if args.transport == 'socket' else 'loopback TCP'}, "
        f"a connection per request); server: {describe_server(args)}; "
        f"{os.cpu_count()} cores; callers "
        f"{'with License ID + App ID' if args.licensed else 'anonymous (local setup)'}\n",
        flush=True,
    )
    print(
        f"{'database':<11}{'jobs':>9}  {'operation':<20}{'req/s':>8}{'of ceiling':>12}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="cora-bench-") as tmp:
        workdir = Path(tmp)
        ceiling = Ceiling(args, workdir)
        rows: list[Row] = []
        try:
            for kind in args.databases.split(","):
                rows += bench_database(kind, args, ceiling, workdir)
        finally:
            ceiling.stop()
        overall = median_result(ceiling.runs)
        print(
            f"ceiling (bare WSGI, same bytes, median of {len(ceiling.runs)} runs): "
            f"{overall.rate:.0f} req/s  p50 {overall.p50_ms:.1f} ms  p99 {overall.p99_ms:.1f} ms"
            f"  (runs: {min(r.rate for r in ceiling.runs):.0f}-"
            f"{max(r.rate for r in ceiling.runs):.0f} req/s)\n"
        )
        print_targets(rows, overall)


def bench_database(
    kind: str, args: argparse.Namespace, ceiling: Ceiling, workdir: Path
) -> list[Row]:
    """Every operation at every table size on one database; prints rows and memory."""
    (workdir / kind).mkdir()
    url = database_url(kind, workdir / kind)
    where = place(args, workdir, f"web-{kind}")
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(workdir / f"data-{kind}"),
        "CORA_OCR_DATABASE_URL": url,
        **(
            {"CORA_OCR_WEB_SOCKET": str(where)}
            if isinstance(where, Path)
            else {"CORA_OCR_PORT": str(where)}
        ),
        "CORA_OCR_WEB_WORKERS": str(args.workers),
        "CORA_OCR_WEB_THREADS": str(args.threads),
        "CORA_OCR_WEB_SERVER": args.server,
        "PYTHONPATH": str(ROOT),
        "CORA_OCR_ALLOW_ANONYMOUS": "false" if args.licensed else "true",
        "CORA_OCR_REQUIRE_HTTPS": "false",
    }
    subprocess.run(
        [str(VENV_BIN / "cora-ocr"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    auth = licensed_caller(env) if args.licensed else {}
    rows: list[Row] = []
    memory: list[str] = []
    readers = args.status_reads.split(",")
    wanted = [word for word in args.operations.split(",") if word]
    for size, reads in ((int(s), r) for s in args.sizes.split(",") for r in readers):
        operations = {
            name: op
            for name, op in scripts(fill(url, size), auth).items()
            if not wanted or any(word in name for word in wanted)
        }
        command = [str(VENV_BIN / "cora-ocr"), "--log-level", "WARNING", "web"]
        server = Server(command, {**env, "CORA_OCR_STATUS_READS": reads}, where)
        try:
            front = Front(env, where, workdir / f"nginx-{kind}-{size}-{reads}")
        except Exception:
            server.stop()
            raise
        try:
            # Warm-up: every code path loaded before the first memory reading at 10k.
            served = sum(
                run_wrk(front.port, *op, 1, workdir).requests for op in operations.values()
            )
            while served < 10_000:
                served += run_wrk(
                    front.port, *operations["SOAP 1.1 GetStatus"], 1, workdir
                ).requests
            early = f"{server.worker_rss()} MB after {served} requests"
            for operation, (path, script) in operations.items():
                ours, bare = [], []
                for _ in range(args.rounds):
                    bare.append(ceiling.measure(args.seconds, path, script))
                    ours.append(run_wrk(front.port, path, script, args.seconds, workdir))
                    served += ours[-1].requests
                result = median_result(ours)
                if len(readers) > 1:
                    operation = f"{operation} [{reads}]"
                row = Row(kind, size, operation, result, result.rate / median_result(bare).rate)
                rows.append(row)
                print(
                    f"{kind:<11}{size:>9}  {operation:<20}{result.rate:8.0f}{row.ratio:11.0%} "
                    f"{result.p50_ms:7.1f} {result.p99_ms:7.1f}{result.errors:8}",
                    flush=True,
                )
            while not wanted and served < 100_000:  # memory after at least 100k requests
                path, script = operations["SOAP 1.1 GetStatus"]
                served += run_wrk(front.port, path, script, args.seconds, workdir).requests
            memory.append(
                f"{kind:<11}{size:>9}  worker RSS: {early}, {server.worker_rss()} MB after {served}"
            )
        finally:
            front.stop()
            server.stop()
        if reads == readers[-1] and "SOAP 1.1 GetStatus" in operations:
            rows.append(bench_peer(kind, size, args, env, operations, ceiling, workdir))
    print("\n".join(memory) + "\n", flush=True)
    return rows


PEER = "stock Spyne peer"


def bench_peer(
    kind: str,
    size: int,
    args: argparse.Namespace,
    env: dict[str, str],
    operations: dict[str, tuple[str, str | None]],
    ceiling: Ceiling,
    workdir: Path,
) -> Row:
    """SOAP 1.1 GetStatus on the stock Spyne + SQLAlchemy ORM app (bench/spyne_peer.py) under
    gunicorn (as its documentation deploys it; the same processes and threads), behind the
    same nginx, on the same database and request."""
    where = place(args, workdir, f"peer-{kind}-{size}")
    command = [*gunicorn(args, where), "--chdir", str(ROOT / "bench"), "spyne_peer:app"]
    server = Server(command, env, where)
    try:
        front = Front(env, where, workdir / f"nginx-peer-{kind}-{size}")
    except Exception:
        server.stop()
        raise
    try:
        path, script = operations["SOAP 1.1 GetStatus"]
        run_wrk(front.port, path, script, 1, workdir)  # warm-up
        peer, bare = [], []
        for _ in range(args.rounds):
            bare.append(ceiling.measure(args.seconds, path, script))
            peer.append(run_wrk(front.port, path, script, args.seconds, workdir))
    finally:
        front.stop()
        server.stop()
    result = median_result(peer)
    row = Row(kind, size, PEER, result, result.rate / median_result(bare).rate)
    print(
        f"{kind:<11}{size:>9}  {PEER:<20}{result.rate:8.0f}{row.ratio:11.0%} "
        f"{result.p50_ms:7.1f} {result.p99_ms:7.1f}{result.errors:8}",
        flush=True,
    )
    return row


def print_targets(rows: list[Row], ceiling: Result) -> None:
    """Issue 40's targets against this run (SOAP 1.1 GetStatus through nginx with credentials:
    >= 3x the peer, >= 70% of the ceiling, p99 under 50 ms; FileBatch never collapsing on
    SQLite): the worst figure for each, and met or missed."""
    soap = [row for row in rows if row.operation.startswith("SOAP 1.1 GetStatus")]
    peers = {(row.database, row.jobs): row for row in rows if row.operation == PEER}
    print("targets (the worst figure of this run):")
    if soap:
        low = min(soap, key=lambda row: row.ratio)
        verdict = "met" if low.ratio >= 0.7 else "missed"
        print(
            f"  SOAP 1.1 GetStatus >= 70% of the ceiling: {low.ratio:.0%} ({low.name}): {verdict}"
        )
        slow = max(soap, key=lambda row: row.result.p99_ms)
        verdict = "met" if slow.result.p99_ms < 50 else "missed"
        print(
            f"  SOAP 1.1 GetStatus p99 < 50 ms: {slow.result.p99_ms:.1f} ms ({slow.name}): "
            f"{verdict}; the bare ceiling's own p99 here: {ceiling.p99_ms:.1f} ms"
        )
    for (database, jobs), peer in sorted(peers.items()):
        ours = next(row for row in soap if (row.database, row.jobs) == (database, jobs))
        times = ours.result.rate / peer.result.rate
        verdict = "met" if times >= 3 else "missed"
        print(
            f"  SOAP 1.1 GetStatus >= 3x the stock Spyne peer ({database}, {jobs} jobs): "
            f"{times:.1f}x: {verdict}"
        )
    for row in (row for row in rows if row.operation == "FileBatch" and row.database == "sqlite"):
        verdict = "met" if row.result.p99_ms < 1000 and row.result.errors == 0 else "missed"
        print(
            f"  FileBatch never collapses on SQLite (p99 < 1 s at {CONNECTIONS} connections,"
            f" no errors): p99 {row.result.p99_ms:.0f} ms, {row.result.errors} errors"
            f" ({row.name}): {verdict}"
        )


if __name__ == "__main__":
    main()
