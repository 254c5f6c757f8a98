"""What the command groups share: opening the store, the local-setup defaults."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from cora_ocr.config import Settings
from cora_ocr.store import Store, store_for
from cora_ocr.store.migrate import upgrade

if TYPE_CHECKING:
    from cora_ocr.services import Services

log = logging.getLogger("cora_ocr")


def open_store(settings: Settings) -> Store:
    """The settings' store (cora_ocr.services.store_for), migrated to the code's revision."""
    store = store_for(settings)
    upgrade(store.engine)
    return store


def local_setup(settings: Settings) -> Settings:
    """`serve` on a loopback address is the zero-setup local mode: unless the settings say
    otherwise, callers on this machine need no credentials (unless it is behind a proxy) and
    plain HTTP is accepted."""
    if not settings.local_setup:
        return settings
    anonymous = not settings.trusted_proxies  # behind a proxy: never (config.py)
    settings = dataclasses.replace(
        settings,
        allow_anonymous=anonymous if settings.allow_anonymous is None else settings.allow_anonymous,
        require_https=False if settings.require_https is None else settings.require_https,
    )
    log.warning(
        "local setup on %s: anonymous=%s, plain HTTP=%s",
        settings.host,
        settings.allow_anonymous,
        not settings.require_https,
    )
    return settings


@contextlib.contextmanager
def services_for(settings: Settings) -> Iterator[Services]:
    """The object graph on a migrated store, disposed of when the command is done."""
    from cora_ocr.services import build_services

    services = build_services(settings, open_store(settings))
    try:
        yield services
    finally:
        services.connections.close()
        services.store.dispose()
