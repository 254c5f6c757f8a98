"""The job store: SQLAlchemy models, engine/session handling, queries and migrations."""

from cora_ocr.store.engine import Store
from cora_ocr.store.models import Base, Job, JobEvent

__all__ = ["Base", "Job", "JobEvent", "Store"]
