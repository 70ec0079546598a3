"""The boto3 S3 client: endpoint, credentials and retries from settings or the environment.

Credentials come from the standard AWS chain (environment, shared config, instance role)
unless set explicitly, e.g. by a DAG task that copied them from an Airflow connection with
:func:`configure_s3`. ``PROX_S3_CONN_ID`` names an Airflow ``aws`` connection
(:func:`prox_tasks.connections.get_connection`: Airflow's lookup, else
``AIRFLOW_CONN_<ID>``) whose login, password and extra fill the settings.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace

MIB = 1024 * 1024


#: S3's smallest multipart part (but the last): a smaller PROX_S3_MULTIPART_CHUNKSIZE was
#: taken, and S3 refused the upload's completion (EntityTooSmall) after every part was sent.
MIN_PART_SIZE = 5 * MIB

#: S3's largest multipart part, and its largest single PUT: a larger part size, or a
#: multipart threshold above it (an object under the threshold goes in one PUT), was taken
#: and S3 refused the upload (EntityTooLarge) only once its bytes were sent.
MAX_PART_SIZE = 5 * 1024 * MIB


def _env_int(name: str, default: int, least: int | None = None, note: str = "",
             most: int | None = None) -> int:
    """``$name`` as a whole number (of at least ``least``, at most ``most``), through the
    one reader of deployment variables (:func:`~prox_tasks.pipeline.settings.env_value`:
    unset or blank is the default, a bad value a SettingInvalid naming it, exit 2);
    ``note``: why the bounds."""
    from prox_tasks.pipeline.settings import env_value, whole_number

    if least is None:
        return env_value(name, default, int, "a whole number")
    expected = f"a whole number of at least {least}"
    if most is not None:
        expected = f"a whole number from {least} to {most}"
    # botocore's own refusal of 0 attempts named no variable, and exited 1
    return env_value(name, default, whole_number(least, most), expected, note)


#: botocore's retry modes and S3 addressing styles (the values it takes).
RETRY_MODES = ("standard", "adaptive", "legacy")
ADDRESSING_STYLES = ("auto", "path", "virtual")


def _env_choice(name: str, default: str, choices: tuple[str, ...], what: str) -> str:
    """``$name`` when it is one of ``choices`` (unset or blank: ``default``), else a
    ValueError naming the variable: botocore's own error for such a value ("S3 addressing
    style pth is invalid") names no variable, and comes only at the first request."""
    from prox_tasks.pipeline.settings import env_value

    def chosen(value: str) -> str:
        if value not in choices:
            raise ValueError(f"botocore's {what}")
        return value

    return env_value(name, default, chosen, f"one of {', '.join(choices)}")


def checked_endpoint(value: str, where: str) -> str:
    """``value`` when it is an endpoint URL (``http://host:port``, ``https://host``), else a
    :class:`~prox_tasks.pipeline.settings.SettingInvalid` (a ValueError: exit 2, no DAG
    retry) naming ``where`` it was given: botocore's "Invalid endpoint: …" for
    ``127.0.0.1:9000`` names neither the variable nor the connection."""
    from urllib.parse import urlsplit

    from prox_tasks.pipeline.settings import SettingInvalid

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingInvalid(f"{where}={value!r} is not an endpoint URL: give http://host:port "
                         "(or https://host)")
    return value


#: The variables an S3 endpoint is read from, the first set winning.
ENDPOINT_VARIABLES = ("PROX_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def _env_endpoint() -> tuple[str, str] | None:
    """The first endpoint variable set (:func:`checked_endpoint`): its value and name."""
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return checked_endpoint(value, name), name
    return None


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3 (or an S3-compatible store such as MinIO).

    Attributes:
        endpoint_url: Custom endpoint (``PROX_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL_S3`` or
            ``AWS_ENDPOINT_URL``); ``None`` means AWS.
        region_name: Region (default from the AWS chain).
        aws_access_key_id: Explicit key; ``None`` means the standard AWS chain.
        aws_secret_access_key: Explicit secret.
        aws_session_token: Explicit session token.
        max_attempts: Total attempts per request, botocore's retry handler
            (``PROX_S3_MAX_ATTEMPTS``, default 10). Throttling, 5xx and connection errors retry.
        retry_mode: botocore retry mode, ``"standard"`` or ``"adaptive"``.
        addressing_style: ``"auto"``, ``"path"`` (MinIO, moto) or ``"virtual"``.
        multipart_threshold: Uploads at least this large use multipart upload (5 MiB to
            5 GiB: S3's smallest part, its largest single PUT).
        multipart_chunksize: Part size for multipart uploads (S3: 5 MiB to 5 GiB).
        max_concurrency: Threads boto3's transfer manager uses per upload.
        read_block_size: Bytes fetched per ranged GET when reading.
        connect_timeout: Seconds.
        read_timeout: Seconds.
        endpoint_from: Where ``endpoint_url`` was given (a variable's name, an Airflow
            connection's field), for a message about it; not part of the settings' identity.
    """

    endpoint_url: str | None = None
    region_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    max_attempts: int = 10
    retry_mode: str = "standard"
    addressing_style: str = "auto"
    multipart_threshold: int = 64 * MIB
    multipart_chunksize: int = 16 * MIB
    max_concurrency: int = 4
    read_block_size: int = 8 * MIB
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    endpoint_from: str | None = field(default=None, compare=False, hash=False)

    @classmethod
    def from_env(cls) -> S3Settings:
        """Settings from ``PROX_S3_*`` variables and an optional Airflow connection."""
        endpoint, endpoint_from = _env_endpoint() or (None, None)
        settings = cls(
            endpoint_url=endpoint, endpoint_from=endpoint_from,
            max_attempts=_env_int("PROX_S3_MAX_ATTEMPTS", 10, least=1),
            retry_mode=_env_choice("PROX_S3_RETRY_MODE", "standard", RETRY_MODES,
                                   "retry modes"),
            addressing_style=_env_choice("PROX_S3_ADDRESSING_STYLE", "auto", ADDRESSING_STYLES,
                                         "S3 addressing styles"),
            # below a part's minimum an object too small to split went up as a multipart
            # upload (three requests for one PUT's work); above the largest PUT, an object
            # under it went up in one PUT that S3 refuses
            multipart_threshold=_env_int(
                "PROX_S3_MULTIPART_THRESHOLD", 64 * MIB, least=MIN_PART_SIZE, most=MAX_PART_SIZE,
                note="S3's smallest multipart part is 5 MiB, its largest single PUT 5 GiB"),
            multipart_chunksize=_env_int(
                "PROX_S3_MULTIPART_CHUNKSIZE", 16 * MIB, least=MIN_PART_SIZE, most=MAX_PART_SIZE,
                note="S3's multipart parts are 5 MiB to 5 GiB"),
        )
        conn_id = os.environ.get("PROX_S3_CONN_ID")
        if conn_id:
            settings = settings.with_airflow_connection(conn_id)
        return settings

    def with_airflow_connection(self, conn_id: str) -> S3Settings:
        """Overlay credentials and endpoint from the Airflow connection ``conn_id``."""
        from prox_tasks.connections import get_connection

        return replace(self, **connection_fields(get_connection(conn_id, "PROX_S3_CONN_ID")))


def connection_fields(conn) -> dict:
    """Settings fields from an Airflow ``aws`` connection
    (:class:`prox_tasks.connections.ConnectionInfo`).

    Raises:
        ValueError: Its endpoint URL lacks the scheme (:func:`checked_endpoint`), naming the
            connection and the extra field.
    """
    login, password, extra = conn.login, conn.password, conn.extra
    endpoint, field_name = extra.get("endpoint_url"), "endpoint_url"
    if not endpoint:
        endpoint = (extra.get("service_config") or {}).get("s3", {}).get("endpoint_url")
        field_name = "service_config.s3.endpoint_url"
    endpoint_from = None
    if isinstance(endpoint, str) and endpoint.strip():
        endpoint_from = f"Airflow connection {conn.conn_id!r}: extra {field_name}"
        endpoint = checked_endpoint(endpoint.strip(), endpoint_from)
    fields = {
        "aws_access_key_id": login or extra.get("aws_access_key_id"),
        "aws_secret_access_key": password or extra.get("aws_secret_access_key"),
        "aws_session_token": extra.get("aws_session_token"),
        "region_name": extra.get("region_name"),
        "endpoint_url": endpoint,
        "endpoint_from": endpoint_from and f"{endpoint_from} (PROX_S3_CONN_ID)",
    }
    return {k: v for k, v in fields.items() if v}


_lock = threading.Lock()
_configured: S3Settings | None = None
_clients: dict = {}


def configure_s3(settings: S3Settings | None) -> None:
    """Use ``settings`` for every later S3 call in this process (``None``: back to env).

    Raises:
        ValueError: Its endpoint URL lacks the scheme (:func:`checked_endpoint`), as the
            environment's and a connection's are refused.
    """
    global _configured
    if settings is not None and settings.endpoint_url:
        checked_endpoint(settings.endpoint_url, "S3Settings endpoint_url")
    with _lock:
        _configured = settings
        _clients.clear()


def current_settings() -> S3Settings:
    return _configured if _configured is not None else S3Settings.from_env()


def connection_in_use() -> str | None:
    """The Airflow connection id (``PROX_S3_CONN_ID``) the S3 settings in effect are read
    from, for a message saying what to fill; None when none is, or the settings were given
    to :func:`configure_s3`."""
    if _configured is not None:
        return None
    return os.environ.get("PROX_S3_CONN_ID", "").strip() or None


def endpoint_setting() -> str | None:
    """Where the S3 endpoint in effect was given (``PROX_S3_ENDPOINT_URL``, another of
    :data:`ENDPOINT_VARIABLES`, an Airflow connection's extra, ``S3Settings`` given to
    :func:`configure_s3`), for a message saying which setting to correct; None when no
    endpoint is set (AWS's) or the settings cannot be read now."""
    try:
        settings = current_settings()
    except Exception:  # noqa: BLE001 - a message's detail: its own error is said elsewhere
        return None
    if not settings.endpoint_url:
        return None
    return settings.endpoint_from or "the S3Settings endpoint_url given to configure_s3"


def get_client(settings: S3Settings | None = None):
    """A cached boto3 S3 client for ``settings`` (one per process: clients are not fork-safe)."""
    import boto3
    from botocore.config import Config

    settings = settings or current_settings()
    key = (os.getpid(), settings)
    with _lock:
        client = _clients.get(key)
        if client is None:
            config = Config(
                retries={"total_max_attempts": settings.max_attempts, "mode": settings.retry_mode},
                s3={"addressing_style": settings.addressing_style},
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                max_pool_connections=max(10, settings.max_concurrency * 2),
            )
            session = boto3.session.Session(
                aws_access_key_id=settings.aws_access_key_id,
                aws_secret_access_key=settings.aws_secret_access_key,
                aws_session_token=settings.aws_session_token,
                region_name=settings.region_name,
            )
            client = session.client("s3", endpoint_url=settings.endpoint_url, config=config)
            _clients[key] = client
    return client


def transfer_config(settings: S3Settings | None = None):
    """boto3's TransferConfig (multipart threshold, part size, threads) for ``settings``."""
    from boto3.s3.transfer import TransferConfig

    settings = settings or current_settings()
    return TransferConfig(
        multipart_threshold=settings.multipart_threshold,
        multipart_chunksize=settings.multipart_chunksize,
        max_concurrency=settings.max_concurrency,
    )
