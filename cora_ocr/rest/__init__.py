"""The REST face (`/api/v1/...`): the seeds' OCR job service on the same store, licensing and
jobs as the SOAP contract. Errors are RFC 9457 problem documents."""

from cora_ocr.rest.api import PREFIX, RestApi

__all__ = ["PREFIX", "RestApi"]
