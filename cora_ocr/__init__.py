"""cora_ocr: a self-hosted drop-in replacement for the Cora SeQuence OCR integration service."""

__version__ = "0.1.0"
