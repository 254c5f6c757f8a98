"""FileBatch checks its input synchronously: a Client fault naming the field, nothing stored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import zeep
from sqlalchemy import func, select

from cora_ocr.store import Job, Store
from tests.support.factories import file_batch_args, file_ref


def job_count(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def refused(
    client: zeep.Client, store: Store, port: str = "CoraOcrIntegrationSoap", **overrides: Any
) -> str:
    service = client.bind("CoraOcrIntegration", port)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.FileBatch(**file_batch_args(**overrides))
    assert caught.value.code in ("soap:Client", "soap:Sender")
    assert job_count(store) == 0, "a refused request must store nothing"
    return str(caught.value.message)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"TimeOut": 0}, "TimeOut", "outside 1..604800"),
        ({"TimeOut": -5}, "TimeOut", "outside"),
        ({"TimeOut": 604_801}, "TimeOut", "outside"),
        (
            {"PutModel": "Append"},
            "PutModel",
            "'Append' is not one of FailIfExists, Overwrite, Rename",
        ),
        ({"InputFile": None}, "InputFile", "required"),
        ({"OutPutFile": None}, "OutPutFile", "required"),
        ({"OCRProfile": None}, "OCRProfile", "required"),
        ({"OCRProfile": "   "}, "OCRProfile", "required"),
        ({"OCRProfile": "p" * 256}, "OCRProfile", "longer than 255"),
        ({"ExternalContext": "c" * 4001}, "ExternalContext", "longer than 4000"),
        (
            {"InputFile": file_ref("a.png", connection="Elsewhere")},
            "InputFile.Connection",
            "unknown connection 'Elsewhere'",
        ),
        ({"InputFile": file_ref("a.png", connection="")}, "InputFile.Connection", "required"),
        ({"OutPutFile": file_ref("")}, "OutPutFile.FileName", "required"),
        ({"OutPutFile": file_ref("f" * 256)}, "OutPutFile.FileName", "longer than 255"),
    ],
)
def test_bad_field_is_named(
    zeep_client: zeep.Client, store: Store, overrides: dict[str, Any], field: str, reason: str
) -> None:
    message = refused(zeep_client, store, **overrides)
    assert message.startswith(f"{field}: ")
    assert reason in message


@pytest.mark.parametrize(
    ("ref", "field", "reason"),
    [
        (file_ref("a.png", "../outside"), "RelativeLocation", "'..'"),
        (file_ref("a.png", "in/../../outside"), "RelativeLocation", "'..'"),
        (file_ref("a.png", "..\\..\\outside"), "RelativeLocation", "'..'"),
        (file_ref("a.png", "/etc"), "RelativeLocation", "absolute"),
        (file_ref("a.png", "C:\\Windows"), "RelativeLocation", "absolute"),
        (file_ref("a.png", "\\\\server\\share"), "RelativeLocation", "absolute"),
        (file_ref("../passwd", "in"), "FileName", "path separator"),
        (file_ref("..", "in"), "FileName", "not a file name"),
        (file_ref("in\\a.png", ""), "FileName", "path separator"),
    ],
)
@pytest.mark.parametrize("side", ["InputFile", "OutPutFile"])
def test_path_traversal_is_refused(
    zeep_client: zeep.Client, store: Store, ref: dict[str, str], field: str, reason: str, side: str
) -> None:
    message = refused(zeep_client, store, **{side: ref})
    assert message.startswith(f"{side}.{field}: ") and reason in message


def test_link_out_of_the_root_is_refused(
    zeep_client: zeep.Client, store: Store, connection_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = connection_root / "escape"
    if link.is_symlink():
        link.unlink()
    os.symlink(outside, link)
    try:
        message = refused(zeep_client, store, InputFile=file_ref("a.png", "escape"))
        assert message.startswith("InputFile.RelativeLocation: ") and "link" in message
        file_link = connection_root / "passwd.png"
        os.symlink("/etc/passwd", file_link)
        try:
            message = refused(zeep_client, store, InputFile=file_ref("passwd.png", ""))
            assert "outside the connection root" in message
        finally:
            file_link.unlink()
    finally:
        link.unlink()


def test_link_inside_the_root_is_accepted(
    zeep_client: zeep.Client, store: Store, connection_root: Path
) -> None:
    (connection_root / "real").mkdir(exist_ok=True)
    link = connection_root / "alias"
    if not link.is_symlink():
        os.symlink(connection_root / "real", link)
    assert zeep_client.service.FileBatch(**file_batch_args(InputFile=file_ref("a.png", "alias")))


@pytest.mark.parametrize(
    ("put_model", "stored"),
    [
        ("", "FailIfExists"),
        (None, "FailIfExists"),
        ("FailIfExists", "FailIfExists"),
        ("Overwrite", "Overwrite"),
        ("Rename", "Rename"),
    ],
)
def test_put_models_accepted(
    zeep_client: zeep.Client, store: Store, put_model: str | None, stored: str
) -> None:
    job_id = zeep_client.service.FileBatch(**file_batch_args(PutModel=put_model))
    with store.session() as session:
        assert session.get(Job, job_id).put_model == stored  # type: ignore[union-attr]


def test_windows_separators_and_boundaries_accepted(zeep_client: zeep.Client, store: Store) -> None:
    job_id = zeep_client.service.FileBatch(
        **file_batch_args(
            TimeOut=604_800,
            InputFile=file_ref("a b.tif", "In\\Batch 7\\."),
            OutPutFile=file_ref("r.xml", ""),
            ExternalContext="c" * 4000,
        )
    )
    with store.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.input_location, job.input_name) == ("In/Batch 7/.", "a b.tif")
        assert job.timeout_seconds == 604_800 and len(job.external_context or "") == 4000


def test_soap12_refusal_is_a_sender_fault(zeep_client: zeep.Client, store: Store) -> None:
    message = refused(zeep_client, store, port="CoraOcrIntegrationSoap12", TimeOut=0)
    assert message.startswith("TimeOut: ")
