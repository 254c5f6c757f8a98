"""Internal job states, the Cora wire statuses and error codes, and allowed transitions."""

from __future__ import annotations

import enum
from typing import NamedTuple

from cora_ocr.errors import InvalidField


class OcrStatus(enum.StrEnum):
    """Wire status (docs/reference/contract.md). Never add a value: .NET clients throw on
    unknown ones."""

    Queued = "Queued"
    ProcessingInput = "ProcessingInput"
    WaitingForOutput = "WaitingForOutput"
    Completed = "Completed"
    Aborted = "Aborted"
    Failed = "Failed"
    NotFound = "NotFound"


class OcrErrorCode(enum.StrEnum):
    """Wire error code (docs/reference/contract.md). Never add a value."""

    NoError = "NoError"
    TimedOut = "TimedOut"
    InputFileNotFound = "InputFileNotFound"
    InputFileExists = "InputFileExists"
    FailedToPutInputFile = "FailedToPutInputFile"
    OutputFileExists = "OutputFileExists"
    FailedToPutOutputFile = "FailedToPutOutputFile"
    RobotProfileNotFound = "RobotProfileNotFound"
    InternalError = "InternalError"


class Ending(enum.StrEnum):
    """How a job that did not complete ended: a fixed vocabulary, stored with the job where
    the decision is made (`jobs.ending`, migration 0011), beside the human reason. REST's
    states, its list filters and the jobs page read it; rewording a reason changes nothing."""

    UNSUPPORTED_MEDIA = "unsupported_media"  # the robot could not read the document
    ENGINE_ERROR = "engine_error"  # the robot read it, and its OCR failed
    LICENSE = "license"  # stopped by its license (suspended, expired, quota)
    TIMEOUT = "timeout"  # no result within its TimeOut, or not started in time
    INPUT_MISSING = "input_missing"
    INPUT_EXISTS = "input_exists"
    INPUT_ERROR = "input_error"  # the document could not be put where the robot reads
    OUTPUT_EXISTS = "output_exists"
    OUTPUT_ERROR = "output_error"
    PROFILE_MISSING = "profile_missing"
    INTERNAL = "internal"
    ABORTED = "aborted"  # by a caller or an operator

    @classmethod
    def by_default(cls, target: JobState, code: OcrErrorCode) -> Ending:
        """Where no step said otherwise: from the final state and its wire error code."""
        if target is JobState.ABORTED:
            return cls.ABORTED
        return _ENDINGS_BY_CODE.get(code, cls.INTERNAL)


class JobState(enum.StrEnum):
    """Internal state of a stored job; more detailed than the wire status."""

    QUEUED = "queued"
    THROTTLED = "throttled"
    PROCESSING_INPUT = "processing_input"
    WAITING_FOR_OUTPUT = "waiting_for_output"
    DELIVERING = "delivering"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def wire(self) -> OcrStatus:
        return _WIRE[self]

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


_WIRE = {
    JobState.QUEUED: OcrStatus.Queued,
    JobState.THROTTLED: OcrStatus.Queued,
    JobState.PROCESSING_INPUT: OcrStatus.ProcessingInput,
    JobState.WAITING_FOR_OUTPUT: OcrStatus.WaitingForOutput,
    # Delivery is the tail of waiting for the output, as far as the caller can tell.
    JobState.DELIVERING: OcrStatus.WaitingForOutput,
    JobState.COMPLETED: OcrStatus.Completed,
    JobState.ABORTED: OcrStatus.Aborted,
    JobState.FAILED: OcrStatus.Failed,
}

FINAL_STATES = frozenset({JobState.COMPLETED, JobState.ABORTED, JobState.FAILED})

# Every transition the worker, the CLI or the web may make. Failed and Aborted are
# reachable from any state that is not final; retry moves a Failed job back to Queued.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.PROCESSING_INPUT, JobState.THROTTLED, JobState.ABORTED, JobState.FAILED}
    ),
    JobState.THROTTLED: frozenset({JobState.QUEUED, JobState.ABORTED, JobState.FAILED}),
    JobState.PROCESSING_INPUT: frozenset(
        {JobState.WAITING_FOR_OUTPUT, JobState.ABORTED, JobState.FAILED}
    ),
    JobState.WAITING_FOR_OUTPUT: frozenset(
        {JobState.DELIVERING, JobState.ABORTED, JobState.FAILED}
    ),
    JobState.DELIVERING: frozenset({JobState.COMPLETED, JobState.ABORTED, JobState.FAILED}),
    JobState.COMPLETED: frozenset(),
    JobState.ABORTED: frozenset(),
    JobState.FAILED: frozenset({JobState.QUEUED}),
}


def can_move(source: JobState, target: JobState) -> bool:
    return target in TRANSITIONS[source]


class PutModel(enum.StrEnum):
    """How to put a file where one already exists (docs/design/overview.md, "PutModel")."""

    FailIfExists = "FailIfExists"
    Overwrite = "Overwrite"
    Rename = "Rename"

    @classmethod
    def parse(cls, value: str | None) -> PutModel:
        if not value:
            return cls.FailIfExists
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise InvalidField(
                "PutModel", f"{value!r} is not one of {allowed} (or empty)"
            ) from None


class Priority(enum.IntEnum):
    """Which of one license's queued jobs starts first (store/job_queries.py: claim); stored as
    its number, named `low`, `normal`, `high` on the REST face, in settings and the CLI."""

    low = 0
    normal = 1
    high = 2

    @classmethod
    def parse(cls, field: str, value: str) -> Priority:
        try:
            return cls[value]
        except KeyError:
            allowed = ", ".join(member.name for member in cls)
            raise InvalidField(field, f"{value!r} is not one of {allowed}") from None


_ENDINGS_BY_CODE = {
    OcrErrorCode.TimedOut: Ending.TIMEOUT,
    OcrErrorCode.InputFileNotFound: Ending.INPUT_MISSING,
    OcrErrorCode.InputFileExists: Ending.INPUT_EXISTS,
    OcrErrorCode.FailedToPutInputFile: Ending.INPUT_ERROR,
    OcrErrorCode.OutputFileExists: Ending.OUTPUT_EXISTS,
    OcrErrorCode.FailedToPutOutputFile: Ending.OUTPUT_ERROR,
    OcrErrorCode.RobotProfileNotFound: Ending.PROFILE_MISSING,
    OcrErrorCode.InternalError: Ending.INTERNAL,
}


class Lifecycle(NamedTuple):
    """One status of the REST life cycle (the seeds' names): the states it covers, and for a
    final state, how the job must (`ending`) or must not (`other_than`) have ended."""

    states: tuple[JobState, ...]
    ending: Ending | None = None
    other_than: Ending | None = None

    def covers(self, state: str, ending: str | None) -> bool:
        if state not in self.states:
            return False
        if self.ending is not None:
            return ending == self.ending.value
        return self.other_than is None or ending != self.other_than.value


# Every (state, ending) pair has exactly one status (tests/unit/test_records.py); the REST
# job's `status`, its list filter `?status=` and the store's JobFilter.status read this table.
LIFECYCLE: dict[str, Lifecycle] = {
    "Queued": Lifecycle((JobState.QUEUED,)),
    "Throttled": Lifecycle((JobState.THROTTLED,)),
    "Processing": Lifecycle(
        (JobState.PROCESSING_INPUT, JobState.WAITING_FOR_OUTPUT, JobState.DELIVERING)
    ),
    "Completed": Lifecycle((JobState.COMPLETED,)),
    "Aborted": Lifecycle((JobState.ABORTED,), other_than=Ending.LICENSE),
    # A job stopped by its license, and a document the robot could not read (not an OCR failure).
    "LicenseError": Lifecycle((JobState.ABORTED,), ending=Ending.LICENSE),
    "UnsupportedMediaType": Lifecycle((JobState.FAILED,), ending=Ending.UNSUPPORTED_MEDIA),
    "ProcessingError": Lifecycle((JobState.FAILED,), other_than=Ending.UNSUPPORTED_MEDIA),
}


def lifecycle_status(state: str, ending: str | None) -> str:
    """A job's REST status, from its state and how it ended."""
    for name, status in LIFECYCLE.items():
        if status.covers(state, ending):
            return name
    raise ValueError(f"no life-cycle status for state {state!r}, ending {ending!r}")
