"""The worker: claims jobs with a lease, drives them through their states, one step per state."""

from cora_ocr.worker.loop import Worker, WorkerHooks

__all__ = ["Worker", "WorkerHooks"]
