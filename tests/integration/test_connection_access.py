"""Connections belong to licenses (issue 25, item 3): a connection names the licenses that may
use it, or `"*"`, or gives each license a folder of its own (`per_license`); any other is
unknown to a license, word for word as a connection that does not exist. Through SOAP with two
licenses on a live server and the worker: B never reads, overwrites or probes A's files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import zeep

from cora_ocr.config import load_settings
from cora_ocr.connections.access import Access
from cora_ocr.errors import SettingsError
from cora_ocr.services import Services
from tests.conftest import RunService, Strict
from tests.support.factories import ManualClock, file_batch_args, file_ref, wire_status
from tests.support.robots import SimulatedRobot, result_text

on_sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # store-independent


def test_who_may_use_a_connection_is_read_from_its_table(tmp_path: Path) -> None:
    config = tmp_path / "cora.toml"
    config.write_text(
        f'[connections]\nBare = "{tmp_path}/bare"\n'
        f'Shared = {{ root = "{tmp_path}/shared", licenses = "*" }}\n'
        f'OnlyA = {{ root = "{tmp_path}/a", licenses = ["aaaa"] }}\n'
        f'Own = {{ root = "{tmp_path}/own", per_license = true }}\n'
        f'Remote = {{ type = "sftp", host = "h", user = "u", key_file = "/k", root = "/r", licenses = ["b"] }}\n'
    )
    access = load_settings(config, environ={}).effective_access
    assert access == {
        "Bare": Access(),
        "Shared": Access(everyone=True),
        "OnlyA": Access(frozenset({"aaaa"})),
        "Own": Access(per_license=True),
        "Remote": Access(frozenset({"b"})),
    }
    assert [access["OnlyA"].folder(who) for who in ("aaaa", "bbbb", None)] == ["", None, ""]
    assert [access["Own"].folder(who) for who in ("aaaa", None)] == ["aaaa", ""]
    assert access["Bare"].folder("aaaa") is None  # nothing said: no license may
    # With nothing configured, the default connection gives each license a folder.
    assert load_settings(environ={}).effective_access == {
        "CoraOCRExternalConnection": Access(per_license=True)
    }
    for entry, says in [
        ('{ root = "/x", licenses = "all" }', 'licenses: expected "*" or a list'),
        ('{ root = "/x", per_license = "yes" }', "per_license: 'yes' is not true or false"),
        ('{ root = "/x", per_license = true, licenses = ["a"] }', "exclude each other"),
    ]:
        config.write_text(f"[connections]\nBad = {entry}\n")
        with pytest.raises(SettingsError, match=f"connections\\.Bad.*{re.escape(says)}"):
            load_settings(config, environ={})


@dataclasses.dataclass
class Two:
    """A live server with the connections of a shared deployment, and licenses A and B."""

    services: Services
    a: zeep.Client
    b: zeep.Client
    root: Path
    license_a: str
    license_b: str

    def submit(self, client: zeep.Client, connection: str, **overrides: object) -> int:
        files = {
            "InputFile": file_ref("doc.png", "in", connection),
            "OutPutFile": file_ref("doc.xml", "out", connection),
        }
        return int(client.service.FileBatch(**file_batch_args(**{**files, **overrides})))

    def run(self) -> None:
        """The worker and a robot, until every job has gone as far as it goes."""
        clock = ManualClock()
        worker = self.services.worker(clock=clock)
        profile = self.services.profiles.get("Default")
        assert profile is not None
        for _ in range(3):
            worker.run(burst=True)
            SimulatedRobot(profile).process_all()
            clock.advance(self.services.settings.poll_seconds)
        worker.run(burst=True)


@pytest.fixture
def two(strict: Strict, running_service: RunService, tmp_path: Path) -> Two:
    license_a = strict.licensing.create_license("A")
    license_b = strict.licensing.create_license("B")
    root = tmp_path / "connections"
    settings = dataclasses.replace(
        strict.services.settings,
        connections={name: root / name for name in ("Own", "OnlyA", "Shared", "Bare")},
        connection_access={
            "Own": Access(per_license=True),
            "OnlyA": Access(frozenset({license_a})),
            "Shared": Access(everyone=True),
        },
    )
    running = running_service(settings, strict.services.store, strict.clock)
    services = running.services
    services.connections.ensure_roots()
    services.profiles.ensure_folders()
    auth_a = (license_a, strict.licensing.create_app(license_a, "intake"))
    auth_b = (license_b, strict.licensing.create_app(license_b, "intake"))
    clients = _clients(strict, running.url, auth_a, auth_b)
    return Two(services, *clients, root, license_a, license_b)


def _clients(strict: Strict, url: str, *auths: tuple[str, str]) -> list[zeep.Client]:
    return [
        dataclasses.replace(strict, url=url).client(auth)  # type: ignore[arg-type]
        for auth in auths
    ]


def _fault(call: object) -> str:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        call()  # type: ignore[operator]
    return str(refused.value)


@on_sqlite
def test_a_license_cannot_use_another_licenses_connection_nor_learn_of_it(two: Two) -> None:
    (two.root / "OnlyA" / "in").mkdir(parents=True)
    (two.root / "OnlyA" / "in" / "doc.png").write_bytes(b"A's document")
    not_allowed = _fault(lambda: two.submit(two.b, "OnlyA"))
    not_there = _fault(lambda: two.submit(two.b, "Nope"))
    assert not_allowed == not_there.replace("'Nope'", "'OnlyA'")
    assert "InputFile.Connection: unknown connection 'OnlyA'" in not_allowed
    assert "Shared" not in not_there and "Own" not in not_there  # no names listed
    _fault(lambda: two.submit(two.a, "Bare"))  # nothing said: no license may
    job = two.submit(two.a, "OnlyA")
    two.run()
    assert wire_status(two.a, job) == ("Completed", "NoError")


@on_sqlite
def test_with_a_folder_per_license_neither_reads_nor_overwrites_the_others_files(
    two: Two,
) -> None:
    for license_id, text in ((two.license_a, b"A's scan"), (two.license_b, b"B's scan")):
        (two.root / "Own" / license_id / "in").mkdir(parents=True)
        (two.root / "Own" / license_id / "in" / "doc.png").write_bytes(text)
    job_a = two.submit(two.a, "Own")
    job_b = two.submit(two.b, "Own", PutModel="Overwrite")  # the same paths, as each sees them
    two.run()
    assert wire_status(two.a, job_a) == ("Completed", "NoError")
    assert wire_status(two.b, job_b) == ("Completed", "NoError")
    own = two.root / "Own"
    assert (own / two.license_a / "out" / "doc.xml").read_bytes() == result_text(
        "doc.png", b"A's scan"
    )
    assert (own / two.license_b / "out" / "doc.xml").read_bytes() == result_text(
        "doc.png", b"B's scan"
    )
    assert not (own / "out").exists()  # nothing at the root
    # Whether A has a file tells B nothing: B's job looks in B's folder only.
    (own / two.license_a / "in" / "only-a.png").write_bytes(b"A's other scan")
    probe = two.submit(two.b, "Own", InputFile=file_ref("only-a.png", "in", "Own"))
    two.run()
    assert wire_status(two.b, probe) == ("Failed", "InputFileNotFound")
