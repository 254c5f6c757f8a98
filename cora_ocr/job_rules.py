"""What a FileBatch (or a REST upload) must hold before it becomes a job: each field checked
and named when it is wrong, its files resolved in the caller's connections, its priority
capped at the license's. JobService (jobs.py) is this and the job's use cases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from cora_ocr.connections import Connections
from cora_ocr.errors import InvalidField
from cora_ocr.licensing import Principal
from cora_ocr.profiles import Profiles
from cora_ocr.statuses import Priority, PutModel
from cora_ocr.store.records import NewJob

MAX_EXTERNAL_CONTEXT = 4000
MAX_PROFILE = 255


@dataclass(frozen=True)
class FileRef:
    connection: str | None
    relative_location: str | None
    file_name: str | None


@dataclass(frozen=True)
class FileBatchRequest:
    timeout: int | None
    external_context: str | None
    input_file: FileRef | None
    ocr_profile: str | None
    output_file: FileRef | None
    put_model: str | None
    activity: dict[str, Any] | None = None
    priority: str | None = None  # low, normal, high; None: the profile's


class FileBatchRules:
    """The checks of a request before it becomes a job (JobService's first half): they read
    the connections and profiles, and write nothing."""

    connections: Connections
    max_timeout: int
    profiles: Profiles

    def _file_fields(
        self, prefix: str, ref: FileRef | None, license_id: str | None, internal: bool
    ) -> tuple[str, str, str]:
        """(connection, location, name) as the job keeps them: the location starts with the
        license's own folder where the connection gives each license one."""
        if ref is None:
            raise InvalidField(prefix, "is required")
        connection, folder = self.connections.for_caller(
            f"{prefix}.Connection", ref.connection, license_id, internal
        )
        location = (ref.relative_location or "").replace("\\", "/")
        connection.resolve(prefix, location, ref.file_name)  # judged as the caller gave it
        if folder:
            location = f"{folder}/{location}".rstrip("/")
            connection.resolve(prefix, location, ref.file_name)  # and where it really is
        assert ref.file_name is not None  # resolve() refuses an empty name
        return connection.name, location, ref.file_name

    def validate(
        self,
        request: FileBatchRequest,
        internal: bool = False,
        principal: Principal | None = None,
    ) -> NewJob:
        """The job as it is to be made, or InvalidField naming the first bad field. `internal`: the
        files may be in the service's own connections (REST uploads). `principal`: the caller,
        who may use only the connections its license may (connections/access.py)."""
        license_id = principal.license_id if principal is not None else None
        if request.timeout is None:
            raise InvalidField("TimeOut", "is required")
        if not 1 <= request.timeout <= self.max_timeout:
            raise InvalidField(
                "TimeOut", f"{request.timeout} is outside 1..{self.max_timeout} seconds"
            )
        context = request.external_context
        if context is not None and len(context) > MAX_EXTERNAL_CONTEXT:
            raise InvalidField("ExternalContext", f"longer than {MAX_EXTERNAL_CONTEXT} characters")
        in_conn, in_loc, in_name = self._file_fields(
            "InputFile", request.input_file, license_id, internal
        )
        if not request.ocr_profile or not request.ocr_profile.strip():
            raise InvalidField("OCRProfile", "is required")
        if len(request.ocr_profile) > MAX_PROFILE:
            raise InvalidField("OCRProfile", f"longer than {MAX_PROFILE} characters")
        out_conn, out_loc, out_name = self._file_fields(
            "OutPutFile", request.output_file, license_id, internal
        )
        self._check_beside(request.ocr_profile, out_name)
        assert request.timeout is not None and request.ocr_profile is not None  # checked above
        return NewJob(
            priority=int(self._priority(request, principal)),
            timeout_seconds=request.timeout,
            external_context=context,
            input_connection=in_conn,
            input_location=in_loc,
            input_name=in_name,
            ocr_profile=request.ocr_profile,
            output_connection=out_conn,
            output_location=out_loc,
            output_name=out_name,
            put_model=PutModel.parse(request.put_model).value,
            activity_metadata=request.activity,
        )

    def _check_beside(self, profile_name: str, out_name: str) -> None:
        """The profile's other outputs go beside OutPutFile, named for it with their own
        extensions: none of those names may be OutPutFile itself."""
        profile = self.profiles.get(profile_name)
        if profile is None:
            return
        stem = PurePath(out_name).stem
        for form in profile.outputs[1:]:
            if stem + profile.extension(form) == out_name:
                raise InvalidField(
                    "OutPutFile",
                    f"{out_name!r}: profile {profile.name} writes its {form} output beside it"
                    f" as {stem}{profile.extension(form)}, the same name; name it with"
                    f" {profile.result_extension}",
                )

    def _priority(self, request: FileBatchRequest, principal: Principal | None) -> Priority:
        """The priority asked for, which the license must allow; else the profile's, capped
        at the license's highest."""
        highest = Priority.high if principal is None else principal.max_priority
        if request.priority:
            asked = Priority.parse("priority", request.priority)
            if asked > highest:
                raise InvalidField(
                    "priority",
                    f"{asked.name} is above {highest.name}, the highest this license allows",
                )
            return asked
        profile = self.profiles.get(request.ocr_profile or "")
        return min(profile.priority if profile is not None else Priority.normal, highest)
