"""Write-then-publish files: readers see the old object or the whole new one, never a part."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: mkstemp makes 0600 files; published files get the usual 0666 & ~umask instead.
FILE_MODE = 0o666 & ~_umask()


class AtomicWriter(io.BufferedIOBase):
    """A binary file that is published by ``close()`` and thrown away by ``abort()``.

    Bytes go to a local temporary file; ``publish(temp_path)`` makes them visible under the
    final name (a rename on local disk, an upload on S3). Used as a context manager, an
    exception inside the block aborts instead of publishing. ``sha256`` and ``size`` describe
    what was written; ``failure`` is the OS error a write or flush raised (a full disk) and
    ``interrupted`` the KeyboardInterrupt or SystemExit a signal raised in a write, kept for
    a caller whose library turns them into another error (``torch.save`` raises a
    ``RuntimeError`` saying only "unexpected pos").

    Args:
        publish: Called with the temporary file's path once it is complete and flushed.
        directory: Where the temporary file lives (the target folder for a local rename).
        prefix: Name prefix of the temporary file, so stale ones can be found and removed.
    """

    def __init__(self, publish: Callable[[str], None], directory: str | None, prefix: str):
        super().__init__()
        fd, self.temp_path = tempfile.mkstemp(prefix=prefix, dir=directory)
        os.fchmod(fd, FILE_MODE)
        self._file = os.fdopen(fd, "wb")
        self._publish = publish
        self._hash = hashlib.sha256()
        self.size = 0
        self.published = False
        self.failure: OSError | None = None
        self.interrupted: BaseException | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        try:
            with self._named():
                self._file.write(view)
        except (KeyboardInterrupt, SystemExit) as stop:  # a signal (Ctrl-C, SIGTERM)
            self.interrupted = stop
            raise
        self._hash.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if not self._file.closed:
            with self._named():
                self._file.flush()

    @contextlib.contextmanager
    def _named(self):
        try:
            with named_os_errors(self.temp_path):
                yield
        except OSError as err:
            self.failure = err
            raise

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        """Publish the file (no-op when already closed or aborted)."""
        if self.closed:
            return
        try:
            with self._named():
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            self._publish(self.temp_path)
            self.published = True
        finally:
            _close_quietly(self._file)
            _remove_quietly(self.temp_path)
            super().close()

    def abort(self) -> None:
        """Throw the bytes away; the final name is left untouched."""
        if self.closed:
            return
        try:
            _close_quietly(self._file)  # flushing may fail (disk full): the bytes go anyway
        finally:
            _remove_quietly(self.temp_path)
            super().close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


@contextlib.contextmanager
def named_os_errors(path: str):
    """An OS error without a file name raised inside (a full disk under a library's
    writer: ``file.write`` names no file) names ``path``, so the one-line error says where."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, path) from err


def _close_quietly(file) -> None:
    try:
        file.close()
    except OSError:
        pass


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
