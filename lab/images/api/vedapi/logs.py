"""Logging: every record goes to stdout and is appended to $DATA_DIR/logs/api.log.

The file handler survives the failure modes the drills inject: the log file being deleted or
rotated (it is reopened, so a deleted file does not keep holding disk space), the directory
being removed (it is recreated) and a full or read-only disk (the record still reaches stdout
and one warning per minute goes to stderr; requests never fail because of logging).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class ResilientFileHandler(logging.handlers.WatchedFileHandler):
    def __init__(self, filename: str) -> None:
        super().__init__(filename, mode="a", encoding="utf-8", delay=True)
        self._last_error = -1e9

    def emit(self, record: logging.LogRecord) -> None:
        try:
            directory = os.path.dirname(self.baseFilename)
            if not os.path.isdir(directory):
                os.makedirs(directory, exist_ok=True)
            self.reopenIfNeeded()
            if self.stream is None:
                self.stream = self._open()
                self._statstream()
            logging.StreamHandler.emit(self, record)
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        # Drop the (possibly half-written) stream so the next record reopens the file.
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):  # a full disk also fails the close
                stream.close()
        now = time.monotonic()
        if now - self._last_error >= 60:
            self._last_error = now
            err = sys.exc_info()[1]
            sys.stderr.write(f"vedapi: cannot write {self.baseFilename}: {err}\n")
            sys.stderr.flush()


def setup(data_dir: str) -> str:
    """Configure the root logger; returns the log file path."""
    path = os.path.join(data_dir, "logs", "api.log")
    formatter = logging.Formatter(FORMAT)
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setFormatter(formatter)
    logfile = ResilientFileHandler(path)
    logfile.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [stdout, logfile]
    root.setLevel(logging.INFO)
    # The pool logs every getconn at INFO; keep its warnings (lost connections, reconnects).
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    logging.getLogger("stripe").setLevel(logging.WARNING)
    return path
