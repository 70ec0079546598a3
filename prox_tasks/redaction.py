"""One redaction for every log line, error message, printed summary and status text.

:func:`redact` replaces with ``***``:

- secrets known to this process: the values of environment variables named like secrets
  (``*_API_KEY``, ``*_SECRET_ACCESS_KEY``, ``*_SESSION_TOKEN``, ``*_PASSWORD``, ``*_TOKEN``,
  ``*_SECRET``), the passwords inside ``PROX_CATALOG_URL``, ``AIRFLOW_CONN_*`` and any other
  ``*_URL``/``*_CONN`` variable, and the secrets a caller adds (:class:`Redactor`);
- the password of any URL (``scheme://user:password@host``), connection strings included;
- bearer/basic tokens, ``api_key=``/``password=``/``token=``/``secret=`` values (query
  strings, JSON, headers) and ``sk-…`` API keys.

Redact *before* cutting a text: a cut can leave a secret's prefix that no rule recognizes.
:func:`install` puts the redaction in front of ``sys.stdout``/``sys.stderr`` and every
logging handler, which is what the ``prox`` command does first; in Airflow tasks, prox's
listener hands the same secrets to Airflow's log masker (:func:`mask_in_airflow`).
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
from urllib.parse import quote, unquote, urlsplit

REDACTED = "***"
MIN_SECRET = 6  # shorter values are too likely to be ordinary words
_SECRET_NAME = re.compile(r"(API_?KEY|SECRET_ACCESS_KEY|SESSION_TOKEN|PASSWORD|PASSWD|TOKEN|"
                          r"SECRET)$", re.I)  # fmt: skip
_URL_NAME = re.compile(r"(_URL|_URI|_CONN|^AIRFLOW_CONN_.*|SQL_ALCHEMY_CONN)$", re.I)
_PATTERNS = [
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@'\"]*):([^\s@/'\"]+)@"), r"\1:***@"),
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=\-]{6,}"), r"\1\2***"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?[A-Za-z]+\s+)[^\s\"',;}]+"), r"\1***"),
    # api_key=..., "password": "...", X-Api-Key: ...; a name must END with the keyword, so
    # prompt_tokens or max_tokens (counts) are left alone
    (re.compile(r"(?i)\b((?:[\w\-]*[_\-])?(?:api[_\-]?key|password|passwd|secret|"
                r"secret[_\-]access[_\-]key|token))\b([\"']?\s*[:=]\s*[\"']?)(?!\*\*\*)"
                r"([^\s\"'&,;}\]]+)"), r"\1\2***"),  # fmt: skip
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), REDACTED),
]


def _url_password(value: str) -> str | None:
    try:
        password = urlsplit(value).password
    except ValueError:
        return None
    return unquote(password) if password else None


def env_secrets(environ=None) -> list[str]:
    """Secret values held by environment variables (see the module docs)."""
    environ = os.environ if environ is None else environ
    found = []
    for name, value in environ.items():
        if not value:
            continue
        if _SECRET_NAME.search(name):
            found.append(value)
        if _URL_NAME.search(name) or "://" in value[:32]:
            password = _url_password(value)
            if password:
                found.append(password)
        if name.startswith("AIRFLOW_CONN_") and value.lstrip().startswith("{"):
            found.extend(re.findall(r'"(?:password|api_key|secret[\w]*)"\s*:\s*"([^"]+)"',
                                    value))  # fmt: skip
    return found


def _forms(secrets) -> tuple[tuple[str, str | None], ...]:
    """Each of ``secrets`` with its percent-encoded form (as in a URL; None where it is the
    same or the secret holds a ``%``), longest first: a secret holding another goes first."""
    forms = []
    for secret in sorted(set(secrets), key=len, reverse=True):
        encoded = None if "%" in secret else quote(secret, safe="")
        forms.append((secret, encoded if encoded != secret else None))
    return tuple(forms)


class _EnvironmentSecrets:
    """:func:`env_secrets` of ``os.environ`` (those of :data:`MIN_SECRET` characters or
    more, with their encoded forms), read again only when the environment changed.

    Every log record goes through :func:`redact`; scanning the environment for each one cost
    about 20 times the rest of the filter. The environment is compared with a copy of it
    as last read (a dict comparison in C, its values mostly the very same objects): a
    variable set, changed or removed since (``os.environ[...] = ...``, ``monkeypatch``, a
    secrets backend that sets ``PROX_CATALOG_URL`` after start-up) is seen by the next
    record."""

    def __init__(self) -> None:
        self.seen: tuple[dict, tuple] | None = None  # (environment as read, its forms)

    def forms(self) -> tuple[tuple[str, str | None], ...]:
        # os.environ's own dict (bytes on POSIX): copying it decodes nothing
        environ = getattr(os.environ, "_data", None)
        environ = dict(os.environ) if environ is None else environ
        seen = self.seen  # one read: another thread may replace it
        if seen is not None and seen[0] == environ:
            return seen[1]
        snapshot = dict(environ)  # before reading: a change while it is read is seen next
        forms = _forms(s for s in env_secrets() if len(s) >= MIN_SECRET)
        self.seen = (snapshot, forms)
        return forms


_ENVIRONMENT = _EnvironmentSecrets()


class Redactor:
    """Redacts text and nested dicts/lists/tuples: the rules of :func:`redact` plus
    ``secrets`` (an API key given to a client, ...)."""

    def __init__(self, *secrets: str | None) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def text(self, value: str) -> str:
        known = _ENVIRONMENT.forms()
        if self.secrets:
            known = _forms([*self.secrets, *(secret for secret, _ in known)])
        for secret, encoded in known:
            if secret in value:
                value = value.replace(secret, REDACTED)
            if encoded is not None and encoded in value:
                value = value.replace(encoded, REDACTED)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def __call__(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self(v) for v in value)
        return value


def redact(value, *secrets: str | None):
    """``value`` (text, or dicts/lists of it) with every secret replaced by ``***``."""
    return Redactor(*secrets)(value)


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments and traceback before any handler writes it; the
    message's terminal controls are shown as escapes (:func:`~prox_tasks.wording.for_terminal`).

    Args:
        loggers: Only records of loggers whose names start with one of these (``prox``: the
            library's and the Airflow plugin's); the others pass as they are. None: every
            record (the ``prox`` command's own process).
    """

    def __init__(self, loggers: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.loggers = loggers

    def widen(self, loggers: tuple[str, ...] | None) -> bool:
        """Also redact the records of ``loggers`` (None: every record); whether that
        filters more records than before."""
        if self.loggers is None:
            return False
        if loggers is None:
            self.loggers = None
            return True
        wider = tuple(dict.fromkeys((*self.loggers, *loggers)))
        grew, self.loggers = wider != self.loggers, wider
        return grew

    def filter(self, record: logging.LogRecord) -> bool:
        if self.loggers is not None and not record.name.startswith(self.loggers):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: let logging report it
            return True
        from prox_tasks.wording import for_terminal

        # and a terminal's controls shown, not acted on: messages name the input's files and ids
        record.msg, record.args = for_terminal(redact(message)), None
        if record.exc_info or record.exc_text:  # another handler may have formatted it
            record.exc_text = redact(record.exc_text or
                                     logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each line before the stream under it sees it."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending or "\r" in self._pending:
            cut = max(self._pending.rfind("\n"), self._pending.rfind("\r")) + 1
            ready, self._pending = self._pending[:cut], self._pending[cut:]
            self.stream.write(redact(ready))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.stream.write(redact(self._pending))
            self._pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


def mask_in_airflow(*urls: str | None) -> int:
    """Hand the secrets this process knows (:func:`env_secrets`, and the passwords of
    ``urls``, e.g. a run's ``catalog_url`` Param) to Airflow's task-log masker, so Airflow's
    own log lines of the task (a task's returned value among them) hide them too; the number
    handed.

    Called by prox's listener when a task starts and where a task takes a URL from its
    Params; a no-op (0) without Airflow, and in a process Airflow does not run (a ``prox``
    command): Airflow's masker exists only where Airflow is loaded, and importing Airflow
    here would cost seconds and set up its logging in the command's process — its
    structlog lines on stderr beside the command's own output.
    """
    if "airflow" not in sys.modules:
        return 0
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:
        return 0
    passwords = [_url_password(url) for url in urls if url]
    secrets = {s for s in [*env_secrets(), *passwords] if s and len(s) >= MIN_SECRET}
    for secret in secrets:
        mask_secret(secret)
    return len(secrets)


def install() -> None:
    """Redact everything this process prints or logs: ``sys.stdout``/``sys.stderr`` and
    every handler of the root logger (now and later, through the stderr stream)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):  # None: closed
            setattr(sys, name, RedactingStream(stream))
    filter_log_handlers()


#: The loggers of prox's own code in an Airflow task: the library (``prox_tasks``) and the
#: plugin's modules (``prox_listener``, ``prox_partition`` …).
PROX_LOGGERS = ("prox",)


def filter_log_handlers(loggers: tuple[str, ...] | None = None) -> int:
    """Put a :class:`RedactingFilter` of ``loggers`` (None: every record) in front of every
    handler of the root logger, once; the handlers whose records are filtered more now.

    An Airflow task process (prox's listener, as the task starts) filters
    :data:`PROX_LOGGERS` only: prox's lines name the input's files and ids, whose terminal
    controls (``ESC [2J``, ``ESC ]0;…``) went raw into the task log and the UI's log view;
    Airflow's own lines are its masker's to redact, structured as its handlers expect.
    A handler's filter is only ever widened: a task that runs a ``prox`` command in its
    process (:func:`prox_tasks.cli.main`, :func:`install`) after the listener filtered
    prox's lines gets every record redacted, as the command promises — the filter already
    there was taken as done, and another library's records (botocore's, urllib3's: a URL
    with its password, an exception quoting a credential) went through as they were."""
    changed = 0
    for handler in logging.getLogger().handlers:
        present = next((f for f in handler.filters if isinstance(f, RedactingFilter)), None)
        if present is None:
            handler.addFilter(RedactingFilter(loggers))
            changed += 1
        elif present.widen(loggers):
            changed += 1
    return changed
