"""Failure notifications: a message to e-mail or a webhook when a prox task fails for good.

Used as the tasks' ``on_failure_callback`` (Airflow calls it once a task has no retry left,
in the task's own process). It sends only when the Airflow connection named by
``PROX_ALERT_CONN_ID`` (default ``prox_alerts``) exists:

- ``smtp`` / ``email`` connection: host, port, login/password; extra ``to`` (comma-separated),
  ``from``, ``starttls`` (default false), ``ssl`` (default false).
- ``http`` / ``https`` connection: a JSON ``POST`` to ``<scheme>://host:port/<schema>``
  (extra ``url`` overrides it; extra ``headers``), e.g. a Slack or Teams incoming webhook.

A notification that cannot be sent is logged and never changes the task's outcome.
"""

from __future__ import annotations

import json
import logging
import re

log = logging.getLogger(__name__)
DEFAULT_CONN_ID = "prox_alerts"


#: What Airflow takes as a connection id (``airflow.models.connection.RE_SANITIZE_CONN_ID``,
#: at most 250 characters): another cannot name a connection, so no alert could ever go.
_CONN_ID = re.compile(r"[\w#!()\-.:/\\]{1,250}")


def alert_conn_id() -> str:
    """``PROX_ALERT_CONN_ID``, else ``prox_alerts``; empty is unset (an env file's
    ``PROX_ALERT_CONN_ID=`` would look up a connection named ''). Read as each DAG file is
    parsed (:func:`~prox_tasks.pipeline.dag_config.default_args`: in the DAG processor and
    in each task's process before it runs), not first when a task has failed.

    Raises:
        SettingInvalid: Not a connection id Airflow can hold (a space, a quote): every
            failure's alert was dropped, silently, as if none were configured.
    """
    # worded as every variable read at parse: the import error, all the UI shows, says so
    from prox_tasks.pipeline.dag_config import parse_time_setting

    def conn_id(text: str) -> str:
        if not _CONN_ID.fullmatch(text):
            raise ValueError("Airflow's connection ids are letters, digits and _ - . : / \\ "
                             "# ! ( ), at most 250")
        return text

    return parse_time_setting("PROX_ALERT_CONN_ID", DEFAULT_CONN_ID, conn_id, "a connection id")


def failure_message(context: dict) -> dict:
    """Subject, text and fields of the message for a failed task (from its Airflow context)."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "?")
    map_index = getattr(ti, "map_index", -1)
    error = context.get("exception")
    fields = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index,
              "try_number": getattr(ti, "try_number", None),
              "logical_date": str(context.get("logical_date") or ""),
              "error": f"{type(error).__name__}: {error}" if error else "",
              "log_url": getattr(ti, "log_url", None)}
    where = f"{task_id}[{map_index}]" if map_index not in (-1, None) else task_id
    subject = f"[prox] {dag_id} {run_id}: {where} failed"
    text = "\n".join([subject, "", fields["error"] or "(no error message)", "",
                      f"try {fields['try_number']}, "
                      + (f"logical date {fields['logical_date']}" if fields["logical_date"]
                         else "no logical date (a manual run triggered without one)"),
                      f"log: {fields['log_url']}" if fields["log_url"] else ""]).strip()
    return {"subject": subject, "text": text, **fields}


def send(message: dict, conn) -> None:
    """Send ``message`` through the connection ``conn``
    (:class:`prox_tasks.connections.ConnectionInfo`)."""
    kind = (conn.conn_type or "").lower()
    if kind in ("smtp", "email"):
        _send_mail(message, conn)
    elif kind in ("http", "https"):
        _post(message, conn, kind)
    elif (conn.extra or {}).get("url"):
        # `airflow connections add --conn-type http` stores a `generic` connection where the
        # HTTP provider is not installed: its extra `url` is the webhook all the same
        _post(message, conn, "https")
    else:
        raise ValueError(f"connection {conn.conn_id!r} has type {conn.conn_type!r} and no "
                         "extra 'url'; want smtp, email, http or https (or an extra 'url')")


def _send_mail(message: dict, conn) -> None:
    import smtplib
    from email.message import EmailMessage

    extra = conn.extra or {}
    recipients = [a.strip() for a in str(extra.get("to", "")).split(",") if a.strip()]
    if not recipients:
        raise ValueError(f"connection {conn.conn_id!r} names no recipient (extra 'to')")
    mail = EmailMessage()
    mail["Subject"], mail["From"] = message["subject"], extra.get("from", "prox@localhost")
    mail["To"] = ", ".join(recipients)
    mail.set_content(message["text"])
    flag = lambda key: str(extra.get(key, "false")).lower() in ("1", "true", "yes")  # noqa: E731
    smtp_class = smtplib.SMTP_SSL if flag("ssl") else smtplib.SMTP
    with smtp_class(conn.host or "localhost", conn.port or 25, timeout=30) as smtp:
        if flag("starttls"):
            smtp.starttls()
        if conn.login:
            smtp.login(conn.login, conn.password or "")
        smtp.send_message(mail)


def _post(message: dict, conn, scheme: str) -> None:
    import httpx

    extra = conn.extra or {}
    url = extra.get("url") or \
        f"{scheme}://{conn.host}{f':{conn.port}' if conn.port else ''}/{conn.schema or ''}"
    response = httpx.post(url, content=json.dumps(message), timeout=30,
                          headers={"Content-Type": "application/json",
                                   **(extra.get("headers") or {})})
    response.raise_for_status()


class FailureNotifier:
    """``on_failure_callback`` sending :func:`failure_message` when the alert connection
    (:func:`alert_conn_id`) is configured; does nothing otherwise."""

    def __call__(self, context: dict) -> None:
        from prox_tasks.connections import get_connection

        conn_id = None
        try:
            conn_id = alert_conn_id()
            conn = get_connection(conn_id)
        except KeyError:
            return  # no alert connection configured: nobody to tell
        except Exception:  # noqa: BLE001 - a lookup failure must not hide the task's own
            log.exception("could not look up the alert connection %s",
                          conn_id or "(PROX_ALERT_CONN_ID)")
            return
        message = failure_message(context)
        try:
            send(message, conn)
            log.info("failure notification sent through %s: %s", conn.conn_id,
                     message["subject"])
        except Exception:  # noqa: BLE001 - never change the failed task's outcome
            log.exception("could not send the failure notification through %s", conn.conn_id)
