"""Failure notifications sent to real loopback servers (webhook and SMTP)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from prox_tasks.pipeline.alerts import FailureNotifier
from tests.pipeline.loopback_servers import SMTPServer, WebhookServer


def _context():
    ti = SimpleNamespace(dag_id="prox_refine_snapshot", task_id="quality_gate",
                         run_id="scheduled__2026-01-05T00:00:00+00:00", map_index=-1,
                         try_number=1, log_url="http://127.0.0.1:8080/log")
    return {"task_instance": ti, "exception": RuntimeError("quality gate failed for s"),
            "logical_date": "2026-01-05T00:00:00+00:00"}


def test_webhook_receives_the_failure(monkeypatch):
    monkeypatch.setenv("PROX_ALERT_CONN_ID", "")  # an env file's NAME=: the default
    with WebhookServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_PROX_ALERTS", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": server.port,
             "schema": "hooks/prox"}))
        FailureNotifier()(_context())
    [hit] = server.received
    assert hit["path"] == "/hooks/prox"
    assert hit["body"]["subject"] == ("[prox] prox_refine_snapshot "
                                      "scheduled__2026-01-05T00:00:00+00:00: quality_gate failed")
    assert hit["body"]["error"] == "RuntimeError: quality gate failed for s"


def test_a_generic_connection_with_a_url_is_a_webhook(monkeypatch):
    """What `airflow connections add prox_alerts --conn-type http --conn-extra '{"url": …}'`
    (docs/airflow.md) stores where the HTTP provider is not installed."""
    with WebhookServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_PROX_ALERTS", json.dumps(
            {"conn_type": "generic", "extra": {"url": f"http://127.0.0.1:{server.port}/x"}}))
        FailureNotifier()(_context())
        # a manual run triggered without a logical date (docs/airflow.md's REST example)
        FailureNotifier()({**_context(), "logical_date": None})
    hit, undated = server.received
    assert hit["path"] == "/x" and hit["body"]["error"] == "RuntimeError: quality gate failed for s"
    assert "try 1, logical date 2026-01-05T00:00:00+00:00\n" in hit["body"]["text"]
    # it said 'try 1, logical date ' and nothing more
    assert "try 1, no logical date (a manual run triggered without one)\n" in undated["body"]["text"]


def test_smtp_server_receives_the_failure(monkeypatch):
    with SMTPServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_PROX_ALERTS", json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": server.port,
             "extra": {"to": "data-team@example.org", "from": "airflow@example.org"}}))
        FailureNotifier()(_context())
        for _ in range(100):
            if server.received:
                break
            __import__("time").sleep(0.05)
    [(sender, recipients, data)] = server.received
    assert sender == "airflow@example.org" and recipients == ["data-team@example.org"]
    assert "Subject: [prox] prox_refine_snapshot" in data and "quality gate failed" in data


def test_nothing_sent_without_a_connection_and_a_dead_server_does_not_raise(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PROX_ALERTS", raising=False)
    monkeypatch.setattr("prox_tasks.connections.airflow_installed", lambda: False)
    FailureNotifier()(_context())  # no connection: nothing to do
    monkeypatch.setenv("AIRFLOW_CONN_PROX_ALERTS", "http://127.0.0.1:9/hook")
    FailureNotifier()(_context())  # refused: logged, never raised


def test_an_alert_connection_id_airflow_cannot_hold_is_refused_not_dropped(monkeypatch, caplog):
    """PROX_ALERT_CONN_ID='prox alerts' (a space) names no connection Airflow can hold: the
    first failed task looked it up, found none, and sent nothing, saying nothing — as if
    alerts were not configured. It is refused as a setting now (the DAG files read it as
    they are parsed: tests/dags/test_dagbag.py), and a failed task's callback logs it."""
    import pytest

    from prox_tasks.pipeline.alerts import alert_conn_id
    from prox_tasks.pipeline.settings import SettingInvalid

    monkeypatch.setenv("PROX_ALERT_CONN_ID", "prox alerts")
    with pytest.raises(SettingInvalid, match="PROX_ALERT_CONN_ID='prox alerts' is not a "
                                             "connection id") as refused:
        alert_conn_id()
    # worded as the other variables read at parse (dag_config.parse_time_setting): it lacked
    # the hint that says when it is read
    assert "read when the DAGs are parsed: docs/airflow.md" in str(refused.value), refused.value
    FailureNotifier()(_context())  # logged, never raised over the task's own failure
    [logged] = [r for r in caplog.records if r.name == "prox_tasks.pipeline.alerts"]
    assert logged.getMessage() == "could not look up the alert connection (PROX_ALERT_CONN_ID)"
    assert "PROX_ALERT_CONN_ID='prox alerts' is not a connection id" in str(logged.exc_info[1])
    monkeypatch.setenv("PROX_ALERT_CONN_ID", "team-a.alerts")
    assert alert_conn_id() == "team-a.alerts"
