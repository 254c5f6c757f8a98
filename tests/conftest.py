"""Fixtures every tier shares: real SQLite and PostgreSQL stores, the settings, the services, zeep
clients of `server`. How a tier reaches the app is its own conftest's: in-process in
tests/unit and tests/integration (tests/support/inprocess.py), a real server on loopback in
tests/acceptance (tests/acceptance/conftest.py, with the processes users run).

Every test that touches the store runs once per backend in CORA_OCR_TEST_BACKENDS
(default "sqlite,postgresql"). PostgreSQL must be reachable: an unreachable server is an
error, never a skip, so CI cannot go green without it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from sqlalchemy import create_engine, text
from zeep.transports import Transport

from cora_ocr.config import DEFAULT_CONNECTION, Settings
from cora_ocr.connections.access import Access
from cora_ocr.host.app import CoraOcrApp, create_app
from cora_ocr.licensing import Licensing
from cora_ocr.metrics import Metrics
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.profiles import Profile
from cora_ocr.robot.hotfolder import Robot
from cora_ocr.services import Services, build_services
from cora_ocr.statuses import JobState
from cora_ocr.store import Job, Store
from cora_ocr.store.migrate import upgrade
from cora_ocr.wakeup import LocalWakeups
from cora_ocr.worker import Worker
from cora_ocr.worker.steps import Outcome
from tests.support.factories import ManualClock, file_batch_args, file_ref, wire_status
from tests.support.robots import SimulatedRobot, robot_files

PG_URL = os.environ.get(
    "CORA_OCR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    b.strip()
    for b in os.environ.get("CORA_OCR_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if b.strip()
]


ACCEPTANCE = Path(__file__).parent / "acceptance"
UNIT = Path(__file__).parent / "unit"
PG_FIXTURES = frozenset({"pg", "pg_store", "pg_database"})  # PostgreSQL stores of a test's own


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The markers a test's place and parameters imply (pyproject.toml): `live` for the
    acceptance tier, `postgres` for a test on the PostgreSQL backend or with a server of its
    own (marked so by its module). The unit tier runs on SQLite alone: its PostgreSQL
    variants are left out here (overriding `backend` there would mix the session's stores)."""
    unit = [item for item in items if UNIT in item.path.parents and _on_postgresql(item)]
    if unit:
        config.hook.pytest_deselected(items=unit)
        items[:] = [item for item in items if item not in unit]
    for item in items:
        if ACCEPTANCE in item.path.parents:
            item.add_marker(pytest.mark.live)
        if _on_postgresql(item):
            item.add_marker(pytest.mark.postgres)


def _on_postgresql(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return "postgresql" in params or bool(PG_FIXTURES & set(getattr(item, "fixturenames", ())))


@dataclass
class PgSchema:
    url: str
    name: str

    def drop(self) -> None:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        engine.dispose()


def new_pg_schema() -> PgSchema:
    """A private schema so that parallel runs and leftovers never collide."""
    name = f"cora_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    return PgSchema(f"{PG_URL}?options=-csearch_path%3D{name}", name)


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cora")


def make_store_url(backend: str, directory: Path) -> tuple[str, PgSchema | None]:
    if backend == "sqlite":
        return f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}", None
    schema = new_pg_schema()
    return schema.url, schema


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def store(backend: str, session_dir: Path) -> Iterator[Store]:
    url, schema = make_store_url(backend, session_dir)
    store = Store(url, status_reads=Settings().status_reads)  # as production reads GetStatus
    upgrade(store.engine)
    yield store
    store.dispose()
    if schema is not None:
        schema.drop()


@pytest.fixture(scope="session")
def connection_root(session_dir: Path, backend: str) -> Path:
    root = session_dir / backend / "connection"
    root.mkdir(parents=True)
    return root


@pytest.fixture(scope="session")
def settings(session_dir: Path, connection_root: Path, backend: str) -> Settings:
    robot = session_dir / backend / "robot"
    return Settings(
        data_dir=session_dir / backend,
        connections={DEFAULT_CONNECTION: connection_root},
        # Every test license shares it; tests/integration/test_connection_access.py tests the others.
        connection_access={DEFAULT_CONNECTION: Access(everyone=True)},
        allow_anonymous=True,
        require_https=False,
        profiles={
            name: {
                "input_dir": str(robot / name / "in"),
                "output_dir": str(robot / name / "out"),
                "output_format": output_format,
                "dpi": 150,
                # Four documents handed to the robot at a time, whatever the machine's cores
                # (the default follows robot_processes, which follows them).
                "robot_backlog": 4,
            }
            for name, output_format in (
                ("Default", "alto"),
                ("Text", "text"),
                ("Hocr", "hocr"),
                ("Pdf", "pdf"),
            )
        }
        | {
            name: {
                "input_dir": str(robot / name / "in"),
                "output_dir": str(robot / name / "out"),
                "dpi": 150,
                **extra,
            }
            for name, extra in (
                ("German", {"languages": ["deu"]}),
                ("AsScanned", {"rotate_pages": False, "deskew": False}),
                ("Missing", {"languages": ["fra"]}),  # no French language data installed
                ("Bundle", {"outputs": ["alto", "pdf", "txt"], "review_below": 80}),
                ("NoLayers", {"skip_text": "never"}),
                ("Layers", {"skip_text": "always", "outputs": ["alto", "txt"]}),
                ("Json", {"outputs": ["alto", "json"]}),
                ("Codes", {"outputs": ["json", "alto"], "barcodes": ["Code128", "QRCode"]}),
                ("Archive", {"outputs": ["pdfa"], "pdfa": "1b"}),
                ("Archive2", {"outputs": ["pdfa", "alto"]}),
            )
        },
        lease_seconds=30,
        poll_seconds=1,
        max_attempts=3,
    )


@dataclass
class LiveServer:
    app: CoraOcrApp
    base: str  # http://127.0.0.1:PORT

    @property
    def url(self) -> str:
        return self.base + SERVICE_PATH

    @property
    def wsdl(self) -> str:
        return self.url + "?wsdl"


@pytest.fixture(scope="session")
def process_metrics() -> Metrics:
    """The metrics of this test process: one set, as a process of the service has one, shared
    by the live server and every test's services (so a test's worker counts where /metrics
    reads)."""
    return Metrics()


@pytest.fixture(scope="session")
def process_wakeups() -> LocalWakeups:
    """This test process's idle workers, as a process of the service has one set: a job
    submitted through the live server wakes a test's worker."""
    return LocalWakeups()


def process_app(
    settings: Settings, store: Store, metrics: Metrics, wakeups: LocalWakeups
) -> CoraOcrApp:
    """The app of the test process's live server (a real one, or in-process)."""
    return create_app(build_services(settings, store, metrics=metrics, wakeups=wakeups))


def empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@pytest.fixture
def services(
    settings: Settings, store: Store, process_metrics: Metrics, process_wakeups: LocalWakeups
) -> Services:
    """The object graph on the session's store; jobs, robot folders and files emptied."""
    with store.engine.begin() as conn:
        for table in (
            "claim_turns",
            "submit_keys",
            "job_events",
            "jobs",
            "usage",
            "windows_principals",
            "apps",
            "licenses",
            "admin_sessions",
            "admin_login_failures",
        ):
            conn.execute(text(f"DELETE FROM {table}"))
    built = build_services(settings, store, metrics=process_metrics, wakeups=process_wakeups)
    for profile in built.profiles.all():
        empty_folder(profile.input_dir)
        empty_folder(profile.output_dir)
        # A robot of an earlier test beat here: stale by now, it would make /readyz unready.
        profile.heartbeat_path().unlink(missing_ok=True)
    for root in settings.effective_connections.values():
        if isinstance(root, Path):
            empty_folder(root)
    return built


@pytest.fixture
def server(live_server: LiveServer, services: Services) -> LiveServer:
    """The live server, with an empty job table and empty folders for this test."""
    return live_server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def zeep_client(server: LiveServer) -> zeep.Client:
    return zeep.Client(server.wsdl)


@dataclass
class Strict:
    """A second server on the same store that admits only licensed callers (region "eu"),
    on a clock the test moves, standing half a minute before the hour."""

    services: Services
    app: CoraOcrApp
    clock: ManualClock
    url: str

    @property
    def licensing(self) -> Licensing:
        return self.services.licensing

    def credentials(self, **license_options: object) -> tuple[str, str]:
        license_id = self.licensing.create_license("Acme", **license_options)  # type: ignore[arg-type]
        return license_id, self.licensing.create_app(license_id, "intake")

    def client(self, auth: tuple[str, str]) -> zeep.Client:
        session = requests.Session()
        session.auth = auth
        return zeep.Client(self.url + "?wsdl", transport=Transport(session=session))


@dataclass
class Running:
    """The service with settings of a test's own (`running_service`): on a real HTTP server
    on loopback in tests/acceptance, answering in-process below it (tests/support/inprocess.py)."""

    services: Services
    app: CoraOcrApp
    clock: ManualClock
    url: str  # the ASMX service's address
    stop: Callable[[], None]

    @property
    def base(self) -> str:
        return self.url.split("/SequenceServices/")[0]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


# running_service(settings=None, store=None, clock=None, **changes) -> Running
RunService = Callable[..., Running]


def service_runner(
    services: Services, start: Callable[[Services, ManualClock], Running]
) -> Iterator[RunService]:
    """The body of each tier's `running_service` fixture: `running_service(settings=None,
    store=None, clock=None, **changes)` builds the test's services' settings with `changes`
    (unless `settings` is given), on the test's store (unless `store` is), the use cases on
    `clock` (None: the store's), and has `start` run them (a real server, or in-process) on
    that clock (None: a ManualClock). Every one started is stopped when the test ends."""
    started: list[Running] = []

    def run(
        settings: Settings | None = None,
        store: Store | None = None,
        clock: ManualClock | None = None,
        **changes: Any,
    ) -> Running:
        settings = dataclasses.replace(settings or services.settings, **changes)
        built = build_services(settings, store or services.store, clock)
        running = start(built, clock or ManualClock())
        started.append(running)
        return running

    yield run
    for running in reversed(started):
        running.stop()


REFUSED_CAUSES = (
    "unknown license",
    "wrong app id",
    "suspended license",
    "expired license",
    "disabled app",
    "other region",
    "not basic",
    "garbled basic",
)


def refused_caller(strict: Strict, cause: str) -> tuple[Any, dict[str, str], str]:
    """(requests auth, headers, the App ID that must never be logged) of a caller refused
    with 401 for `cause`, one of REFUSED_CAUSES."""
    license_id, app_id = strict.credentials()
    auth: Any = (license_id, app_id)
    headers: dict[str, str] = {}
    if cause == "unknown license":
        auth = ("0000000000000000", app_id)
    elif cause == "wrong app id":
        auth = (license_id, app_id + "x")
    elif cause == "suspended license":
        strict.licensing.set_license_suspended(license_id, True)
    elif cause == "expired license":
        auth = strict.credentials(expires_at=strict.clock.now() - dt.timedelta(seconds=1))
    elif cause == "disabled app":
        strict.licensing.set_app_enabled(license_id, app_id, False)
    elif cause == "other region":
        auth = strict.credentials(region="us")
    elif cause == "not basic":
        auth, headers = None, {"Authorization": "Bearer abc"}
    else:
        auth, headers = None, {"Authorization": "Basic !!!not-base64"}
    return auth, headers, app_id


def strict_services(services: Services) -> Services:
    """The services of a Strict server: licensed callers only, region "eu", on a clock the
    test moves, standing half a minute before the hour."""
    settings = dataclasses.replace(services.settings, allow_anonymous=False, region="eu")
    clock = ManualClock()
    clock.set(clock.now().replace(minute=59, second=30, microsecond=0))
    return build_services(settings, services.store, clock, services.metrics, services.wakeups)


@dataclass
class Hooks:
    """Worker hooks a test sets per state: called before that state's step."""

    before: dict[JobState, Callable[[int], None]] = field(default_factory=dict)

    def before_step(self, job_id: int, state: JobState) -> None:
        if state in self.before:
            self.before[state](job_id)

    def after_step(self, job_id: int, state: JobState, outcome: Outcome) -> None:
        return None


@dataclass
class Pipeline:
    services: Services
    client: zeep.Client
    worker: Worker
    clock: ManualClock
    hooks: Hooks
    robot: SimulatedRobot
    root: Path

    @property
    def profile(self) -> Profile:
        profile = self.services.profiles.get("Default")
        assert profile is not None
        return profile

    def source(
        self, name: str = "scan.png", data: bytes = b"PNG-bytes", folder: str = "in"
    ) -> Path:
        path = self.root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def submit(self, **overrides: Any) -> int:
        return int(self.client.service.FileBatch(**file_batch_args(**overrides)))

    def status(self, job_id: int) -> tuple[str, str]:
        return wire_status(self.client, job_id)

    def drain(self) -> None:
        """Run the worker until nothing is due, then let one poll interval pass."""
        self.worker.run(burst=True)
        self.clock.advance(self.services.settings.poll_seconds)

    def job(self, job_id: int) -> Job:
        return self.services.jobs.show(job_id)

    def robot_name(self, job_id: int) -> str:
        name = self.job(job_id).robot_name
        assert name is not None
        return name

    def robot_files(self) -> list[str]:
        return robot_files(self.profile)


@pytest.fixture
def pipeline(
    server: LiveServer, services: Services, zeep_client: zeep.Client, connection_root: Path
) -> Pipeline:
    clock, hooks = ManualClock(), Hooks()
    worker = services.worker(clock=clock, name="test-worker", hooks=hooks)
    profile = services.profiles.get("Default")
    assert profile is not None
    services.profiles.ensure_folders()
    return Pipeline(
        services, zeep_client, worker, clock, hooks, SimulatedRobot(profile), connection_root
    )


# --- the built-in robot end to end (test_robot.py, test_ocr_quality.py) ---------------
class Harness:
    def __init__(self, services: Services, client: zeep.Client, root: Path) -> None:
        self.services, self.client, self.root = services, client, root
        self.clock = ManualClock()
        self.worker = services.worker(clock=self.clock, name="robot-test-worker")
        self.robots: dict[str, Robot] = {}

    def profile(self, name: str) -> Profile:
        profile = self.services.profiles.get(name)
        assert profile is not None
        return profile

    def robot(self, name: str) -> Robot:
        if name not in self.robots:
            self.robots[name] = Robot(self.profile(name))
        return self.robots[name]

    def submit(self, name: str, profile: str = "Default", **overrides: Any) -> int:
        out = Path(name).stem + self.profile(profile).result_extension
        return int(
            self.client.service.FileBatch(
                **file_batch_args(
                    InputFile=file_ref(name, "scans"),
                    OutPutFile=file_ref(out, "results"),
                    OCRProfile=profile,
                    **overrides,
                )
            )
        )

    def cycle(self, profile: str = "Default") -> None:
        """Worker puts inputs, robot recognises them, worker delivers; again while the robot
        finds documents (the worker hands over a profile's backlog at a time)."""
        while True:
            self.worker.run(burst=True)
            self.clock.advance(1)
            handled = self.robot(profile).run(burst=True)
            self.worker.run(burst=True)
            self.clock.advance(1)
            if not handled:
                return

    def status(self, job_id: int) -> tuple[str, str]:
        return wire_status(self.client, job_id)

    def result(self, name: str) -> bytes:
        return (self.root / "results" / name).read_bytes()


@pytest.fixture
def harness(
    server: LiveServer, services: Services, zeep_client: zeep.Client, connection_root: Path
) -> Iterator[Harness]:
    services.profiles.ensure_folders()
    (connection_root / "scans").mkdir()
    built = Harness(services, zeep_client, connection_root)
    yield built
    for robot in built.robots.values():
        robot.close()


# --- processes as users run them (tests/support/processes.py) ---------------------------------
