"""Who may use each connection: the `licenses` and `per_license` keys of the `connections`
setting's tables (connections/specs.py reads the rest of them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cora_ocr.connections.specs import from_text
from cora_ocr.errors import SettingsError


@dataclasses.dataclass(frozen=True)
class Access:
    """Which licenses may use a connection: those named (`licenses = ["<License ID>", ...]`),
    every one (`licenses = "*"`: they share its files), or each in a folder of its own under
    the root (`per_license = true`: the License ID is the first folder of every path, which
    the caller neither gives nor sees). Nothing said: no license may (a caller without one,
    the anonymous local setup, may use every connection)."""

    licenses: frozenset[str] = frozenset()
    everyone: bool = False
    per_license: bool = False

    def folder(self, license_id: str | None) -> str | None:
        """The folder under the root a caller's paths start from ("" the root itself), or
        None if the caller may not use the connection."""
        if license_id is None:
            return ""
        if self.per_license:
            return license_id
        if self.everyone or license_id in self.licenses:
            return ""
        return None


def parse_access(key: str, value: Any) -> dict[str, Access]:
    """Who may use each connection of the `connections` setting (its tables' `licenses` and
    `per_license`); a connection given as a bare path says nothing (anonymous callers only)."""
    if isinstance(value, str):
        value = from_text(key, value)
    access = {}
    for name, entry in value.items() if isinstance(value, Mapping) else ():
        if not isinstance(entry, Mapping):
            access[str(name)] = Access()
            continue
        where = f"{key}.{name}"
        licenses = entry.get("licenses", [])
        per_license = entry.get("per_license", False)
        if not isinstance(per_license, bool):
            raise SettingsError(f"{where}.per_license: {per_license!r} is not true or false")
        everyone = licenses == "*"
        if not everyone and (
            not isinstance(licenses, list) or not all(isinstance(i, str) and i for i in licenses)
        ):
            raise SettingsError(f'{where}.licenses: expected "*" or a list of License IDs')
        if per_license and licenses:
            raise SettingsError(
                f"{where}: licenses and per_license exclude each other (per_license gives "
                "every license a folder of its own)"
            )
        access[str(name)] = Access(
            frozenset() if everyone else frozenset(licenses), everyone, per_license
        )
    return access
