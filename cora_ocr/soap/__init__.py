"""Spyne types named exactly as the WSDL, the thin service class, and the Spyne glue."""

from cora_ocr.soap import compat  # noqa: F401  (before any Spyne import: Python 3.12+)
