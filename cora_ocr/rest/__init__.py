"""The REST face (`/api/v1/...`): the seeds' OCR job service on the same store, licensing and
jobs as the SOAP contract (`rest/api.py`); uploaded documents and their results live in the
service's own connection (`rest/uploads.py`). Errors are RFC 9457 problem documents."""
