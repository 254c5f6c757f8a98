"""What S3 and Azure Blob connections share: object stores, where a file is a key under the
connection's `base_path`, written whole or not at all.

- Confinement: a key is the base path, then the caller's folders and file name, each
  checked at FileBatch time (`..`, absolute and drive paths refused: connections/paths.py);
  an object store has no links, so the key is where the bytes are.
- Reads stream: the object is read a CHUNK at a time from one GET; a reader that seeks (the
  page count reads a PDF's end first) starts a ranged GET at the new offset.
- Errors: each kind translates its SDK's errors into FileNotFoundError, TargetExists or
  StorageError (transient for throttling and unreachable services, which the SDK has
  already retried with backoff, and the worker tries again later; not for wrong
  credentials, a missing bucket or container, or access denied).
"""

from __future__ import annotations

import contextlib
import io
from abc import abstractmethod
from collections.abc import Callable
from pathlib import PurePath, PurePosixPath
from typing import Any, BinaryIO, Protocol, TypeVar

from cora_ocr.connections.paths import check_file_name, split_location
from cora_ocr.connections.storage import CHUNK, SizedReader, Storage, StorageError

T = TypeVar("T")


class Stream(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


class ObjectStorage(Storage):
    """A bucket or container; subclasses do each operation with their SDK."""

    base_path: str

    def resolve(self, prefix: str, location: str | None, file_name: str | None) -> PurePath:
        parts = split_location(f"{prefix}.RelativeLocation", location)
        name = check_file_name(f"{prefix}.FileName", file_name)
        return PurePosixPath(*(self.base_path.split("/") if self.base_path else ()), *parts, name)

    @staticmethod
    def key(target: PurePath) -> str:
        return PurePosixPath(target).as_posix()

    @abstractmethod
    def translate(self, error: Exception) -> BaseException:
        """The error to raise for an SDK error (module docstring)."""

    def call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except (StorageError, FileNotFoundError, FileExistsError):
            raise
        except Exception as error:
            raise self.translate(error) from error


class RangedReader(SizedReader):
    """An object of `size` bytes read from `opener(offset)` (a stream from that offset to the
    end); a seek elsewhere closes the stream and opens one at the new offset. Errors come out
    translated by `translate`."""

    def __init__(
        self,
        size: int,
        opener: Callable[[int], Stream],
        translate: Callable[[Exception], BaseException],
    ) -> None:
        super().__init__(size)
        self._opener, self._translate = opener, translate
        self._stream: Stream | None = None
        self._at = -1  # the offset the open stream will read next

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._offset)
        if wanted <= 0:
            return 0
        try:
            if self._stream is None or self._at != self._offset:
                self._drop()
                self._stream = self._opener(self._offset)
                self._at = self._offset
            data = self._stream.read(wanted)
        except Exception as error:
            self._drop()
            raise self._translate(error) from error
        if not data:
            self._drop()
            raise StorageError(
                f"the object ended at {self._offset} of its {self._size} bytes", transient=True
            )
        buffer[: len(data)] = data
        self._offset += len(data)
        self._at = self._offset
        return len(data)

    def _drop(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):  # a broken stream may fail to close
                self._stream.close()
            self._stream = None

    def close(self) -> None:
        self._drop()
        super().close()


def buffered(reader: RangedReader) -> BinaryIO:
    return io.BufferedReader(reader, CHUNK)


def read_full(source: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes of source, fewer only at its end (a stream may return less)."""
    parts, left = [], size
    while left > 0:
        data = source.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)
