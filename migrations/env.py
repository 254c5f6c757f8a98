"""Alembic environment: runs against the engine handed over by cora_ocr.store.migrate."""

from __future__ import annotations

from alembic import context

from cora_ocr.store.models import Base

engine = context.config.attributes.get("engine")
if engine is None:  # pragma: no cover - only reached when alembic's own CLI is used
    from cora_ocr.config import load_settings
    from cora_ocr.store.engine import make_engine

    engine = make_engine(load_settings().effective_database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
