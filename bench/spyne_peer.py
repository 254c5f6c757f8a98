"""The peer: GetStatus as a team would write it from Spyne's documentation, stock.

Spyne's Soap11 in and out (lxml validation), its WsgiApplication, the ActivityMetadata header
as `__in_header__`, and the job read through a SQLAlchemy ORM session opened per request in a
`method_call` listener and closed in `method_context_closed` (Spyne's examples/sql). It reads
the service's own `jobs` table, from CORA_OCR_DATABASE_URL. Run by bench/serving.py under the
same gunicorn as the service: `gunicorn --chdir bench spyne_peer:app`.
"""

from __future__ import annotations

import os
from typing import Any

# Spyne 2.14 on Python 3.12+: cora_ocr's compatibility shim must be loaded before Spyne is.
import cora_ocr.asmx.compat  # noqa: F401

# isort: split
from spyne import Application, ComplexModel, Integer32, Long, ServiceBase, Unicode, Uuid, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication
from sqlalchemy import BigInteger, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

TNS = "http://genpact.com/cora/orchestration/ocr/1.0.0/api/"
WIRE = {
    "queued": "Queued",
    "processing_input": "ProcessingInput",
    "waiting_for_output": "WaitingForOutput",
    "completed": "Completed",
    "failed": "Failed",
    "aborted": "Aborted",
}


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[str] = mapped_column(String)
    error_code: Mapped[str] = mapped_column(String)
    external_context: Mapped[str | None] = mapped_column(String)


engine = create_engine(os.environ["CORA_OCR_DATABASE_URL"])
Session = sessionmaker(engine)


class ActivityMetadata(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("WorkflowSpaceId", Uuid),
        ("WorkflowSpaceName", Unicode),
        ("WorkflowId", Uuid),
        ("WorkflowName", Unicode),
        ("WorkflowInstanceId", Long),
        ("ActivityId", Uuid),
        ("ActivityName", Unicode),
        ("ActivityInstanceId", Long),
        ("CallerId", Integer32),
        ("MasterWorkflowInstanceId", Long),
    ]


class OcrJobStatus(ComplexModel):
    __namespace__ = TNS
    _type_info = [("Status", Unicode), ("ErrorCode", Unicode), ("ExternalContext", Unicode)]


class CoraOcrIntegration(ServiceBase):
    __in_header__ = ActivityMetadata

    @rpc(_returns=OcrJobStatus, _out_variable_name="GetStatusResult")
    def GetStatus(ctx: Any) -> OcrJobStatus:
        job_id = ctx.in_header.MasterWorkflowInstanceId if ctx.in_header else None
        job = None if job_id is None else ctx.udc.session.get(Job, job_id)
        if job is None:
            return OcrJobStatus(Status="NotFound", ErrorCode="NoError")
        return OcrJobStatus(
            Status=WIRE[job.state], ErrorCode=job.error_code, ExternalContext=job.external_context
        )


class UserDefinedContext:
    def __init__(self) -> None:
        self.session = Session()


def _on_method_call(ctx: Any) -> None:
    ctx.udc = UserDefinedContext()


def _on_method_context_closed(ctx: Any) -> None:
    if ctx.udc is not None:
        ctx.udc.session.commit()
        ctx.udc.session.close()


application = Application(
    [CoraOcrIntegration],
    tns=TNS,
    name="CoraOcrIntegration",
    in_protocol=Soap11(validator="lxml"),
    out_protocol=Soap11(),
)
application.event_manager.add_listener("method_call", _on_method_call)
application.event_manager.add_listener("method_context_closed", _on_method_context_closed)
app = WsgiApplication(application)
