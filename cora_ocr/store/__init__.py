"""The job store: SQLAlchemy models, engine/session handling, queries and migrations."""

from cora_ocr.store.engine import Store, store_for
from cora_ocr.store.models import (
    AdminLoginFailures,
    AdminSession,
    App,
    Base,
    Job,
    JobEvent,
    License,
    Usage,
)

__all__ = [
    "AdminLoginFailures",
    "AdminSession",
    "App",
    "Base",
    "Job",
    "JobEvent",
    "License",
    "Store",
    "Usage",
    "store_for",
]
