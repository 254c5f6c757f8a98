"""The store's records and named filters (store/records.py, store/job_store.py) and the REST
life cycle they are read by (statuses.LIFECYCLE): pure, no database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest

from cora_ocr.job_view import job_view, status_of
from cora_ocr.statuses import LIFECYCLE, Ending, JobState, lifecycle_status
from cora_ocr.store.job_store import ANY_JOB, JobFilter
from cora_ocr.store.models import App, Job, License
from cora_ocr.store.records import JOB_FIELDS, AppRecord, JobRecord, LicenseRecord

NOW = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)


def record(**values: object) -> JobRecord:
    fields = {name: None for name in JOB_FIELDS}
    fields.update(id=7, state="queued", error_code="NoError", created_at=NOW, updated_at=NOW)
    fields.update(stalls=0, retries=0, callback_attempts=0, ocr_profile="Default", priority=1)
    return JobRecord(**{**fields, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record_type", "model"), [(JobRecord, Job), (LicenseRecord, License), (AppRecord, App)]
)
def test_a_record_has_every_column_of_its_table_in_order(record_type: type, model: type) -> None:
    """A column added to the model and not to its record (or the other way) fails here."""
    fields = [f.name for f in dataclasses.fields(record_type) if f.name != "events"]
    assert fields == [column.key for column in model.__table__.columns]  # type: ignore[attr-defined]


def test_a_record_cannot_be_changed() -> None:
    job = record()
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.state = "failed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("state", "ending"),
    list(itertools.product(list(JobState), [None, *Ending])),
    ids=lambda value: str(value),
)
def test_every_state_and_ending_has_exactly_one_life_cycle_status(
    state: JobState, ending: Ending | None
) -> None:
    value = None if ending is None else ending.value
    matching = [name for name, status in LIFECYCLE.items() if status.covers(state.value, value)]
    assert len(matching) == 1, matching
    assert lifecycle_status(state.value, value) == matching[0]


@pytest.mark.parametrize(
    ("state", "ending", "status"),
    [
        (JobState.FAILED, Ending.UNSUPPORTED_MEDIA, "UnsupportedMediaType"),
        (JobState.FAILED, Ending.ENGINE_ERROR, "ProcessingError"),
        (JobState.FAILED, Ending.TIMEOUT, "ProcessingError"),
        (JobState.ABORTED, Ending.LICENSE, "LicenseError"),
        (JobState.ABORTED, Ending.ABORTED, "Aborted"),
        (JobState.WAITING_FOR_OUTPUT, None, "Processing"),
        (JobState.THROTTLED, None, "Throttled"),
        (JobState.COMPLETED, None, "Completed"),
    ],
)
def test_the_rest_status_comes_from_the_stored_ending(
    state: JobState, ending: Ending | None, status: str
) -> None:
    job = record(state=state.value, ending=None if ending is None else ending.value)
    assert status_of(job) == status
    assert job_view(job)["status"] == status


def test_the_job_view_links_to_the_job_and_its_result() -> None:
    view = job_view(record(external_context="ctx", pages_done=1, pages_total=2))
    assert view["links"] == {"self": "/api/v1/jobs/7", "result": "/api/v1/jobs/7/result"}
    assert (view["pagesDone"], view["pagesTotal"], view["externalContext"]) == (1, 2, "ctx")
    assert view["created"] == "2026-12-05T09:30:00Z"


def test_filters_are_named_and_joined() -> None:
    chosen = JobFilter.status("Completed") & JobFilter.license(3) & JobFilter.profile("Default")
    assert chosen.terms == (("status", "Completed"), ("license", 3), ("profile", "Default"))
    assert (ANY_JOB & JobFilter.state(JobState.FAILED)).terms == (("state", JobState.FAILED),)


def test_an_unknown_status_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'Done' is not one of Queued, Throttled, Processing"):
        JobFilter.status("Done")
