"""How a setting's value is read from the file or the environment (config.py's converters): a
value of the wrong kind or out of range raises SettingsError naming its key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cora_ocr.errors import SettingsError


def as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key}: {value!r} is not true or false")


def as_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise SettingsError(f"{key}: {value!r} is not one of {', '.join(choices)}")
    return text


def as_int(key: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key}: {value!r} is not an integer") from None
    if not low <= number <= high:
        raise SettingsError(f"{key}: {number} is outside {low}..{high}")
    return number


def as_float(key: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key}: {value!r} is not a number") from None
    if not low <= number <= high:
        raise SettingsError(f"{key}: {number} is outside {low}..{high}")
    return number


def as_orphan_age(key: str, value: Any) -> float:
    age = as_float(key, value, 0, 366 * 86400)
    if 0 < age < 60:
        raise SettingsError(f"{key}: {age} is below 60 seconds (0 turns the sweep off)")
    return age


def as_profiles(key: str, value: Any) -> dict[str, dict[str, Any]]:
    if isinstance(value, str):  # the environment carries a JSON object
        import json

        try:
            value = json.loads(value)
        except ValueError as exc:
            raise SettingsError(f"{key}: not a JSON object: {exc}") from None
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise SettingsError(f"{key}: expected a table of profile tables")
    return {str(name): dict(table) for name, table in value.items()}


def as_str_set(key: str, value: Any) -> frozenset[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list | tuple | set | frozenset):
        raise SettingsError(f"{key}: expected a list of addresses")
    return frozenset(str(part) for part in value if str(part))
