"""Where ciphertext lives: a small protocol and three backends (local directory, S3, memory).

A backend stores opaque bytes under a locator (``tenant/ab/document-id.lfv``) and never sees
plaintext or keys. ``put`` is all-or-nothing: a reader finds the whole blob or none (the
local backend writes a temporary file and renames it; S3 completes a multipart upload only
after the last part). ``get`` is lazy and raises :class:`BlobNotFound` on first use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BlobBackend",
    "BlobNotFound",
    "LocalBlobs",
    "MemoryBlobs",
    "S3Blobs",
    "check_locator",
]

log = logging.getLogger(__name__)

_LOCATOR = re.compile(r"[a-z0-9][a-z0-9_.-]{0,127}(/[a-z0-9][a-z0-9_.-]{0,127}){0,7}")
READ_SIZE = 1024 * 1024
#: S3 parts (the minimum is 5 MiB except the last); bounded memory per upload
PART_SIZE = 8 * 1024 * 1024


class BlobNotFound(LookupError):
    """No blob under this locator."""


def check_locator(locator: str) -> str:
    """Refuse anything but lowercase relative segments (no ``..``, no absolute paths)."""
    if not _LOCATOR.fullmatch(locator) or ".." in locator:
        raise ValueError(f"invalid blob locator {locator!r}")
    return locator


@runtime_checkable
class BlobBackend(Protocol):
    def put(self, locator: str, chunks: Iterable[bytes]) -> int:
        """Store all of ``chunks`` (consumed once) atomically; returns the bytes written."""
        ...

    def get(self, locator: str) -> Iterator[bytes]:
        """The stored bytes in pieces of any size; :class:`BlobNotFound` when absent."""
        ...

    def delete(self, locator: str) -> None:
        """Remove the blob; no error when it is already gone."""
        ...


class LocalBlobs:
    """Blobs as files under ``root``; each written to a temporary file, then renamed."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, locator: str) -> Path:
        return self.root / check_locator(locator)

    def put(self, locator: str, chunks: Iterable[bytes]) -> int:
        target = self._path(locator)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_dir(target.parent)
        return written

    def get(self, locator: str) -> Iterator[bytes]:
        path = self._path(locator)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise BlobNotFound(locator) from None
        with handle:
            while piece := handle.read(READ_SIZE):
                yield piece

    def delete(self, locator: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(locator).unlink()

    def __repr__(self) -> str:
        return f"LocalBlobs({str(self.root)!r})"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class MemoryBlobs:
    """Blobs in a dict, for tests (like httpx's MockTransport)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, locator: str, chunks: Iterable[bytes]) -> int:
        data = b"".join(chunks)
        with self._lock:
            self.blobs[check_locator(locator)] = data
        return len(data)

    def get(self, locator: str) -> Iterator[bytes]:
        with self._lock:
            data = self.blobs.get(locator)
        if data is None:
            raise BlobNotFound(locator)
        yield data

    def delete(self, locator: str) -> None:
        with self._lock:
            self.blobs.pop(locator, None)


class S3Blobs:
    """Blobs as objects in an S3-compatible bucket, uploaded in parts of :data:`PART_SIZE`.

    A blob smaller than one part is one ``PutObject``; a larger one a multipart upload,
    aborted on any failure so no partial object (or orphaned parts) remains. ``client`` is a
    boto3 S3 client; credentials come from boto3's usual chain (environment, profile, role).
    """

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 parts other than the last must be at least 5 MiB")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size

    @classmethod
    def connect(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> S3Blobs:
        import boto3  # type: ignore[import-untyped]  # no stubs installed

        client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        return cls(client, bucket, prefix)

    def _key(self, locator: str) -> str:
        return self.prefix + check_locator(locator)

    def put(self, locator: str, chunks: Iterable[bytes]) -> int:
        key = self._key(locator)
        buffer = bytearray()
        written = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=key
                        )["UploadId"]
                    part = bytes(buffer[: self.part_size])
                    del buffer[: self.part_size]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer))
                return written
            if buffer:
                parts.append(self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            return written
        except BaseException:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                except Exception:  # the original failure matters more
                    log.warning("could not abort multipart upload of %s", key, exc_info=True)
            raise

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def get(self, locator: str) -> Iterator[bytes]:
        key = self._key(locator)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(locator) from None
        body = answer["Body"]
        try:
            yield from body.iter_chunks(READ_SIZE)
        finally:
            body.close()

    def delete(self, locator: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(locator))

    def __repr__(self) -> str:
        return f"S3Blobs(bucket={self.bucket!r}, prefix={self.prefix!r})"
