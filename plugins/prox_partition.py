"""Waiting for a late crawl partition without holding a worker slot.

:class:`PartitionSensor` looks once on a worker; while the partition is missing it defers to
:class:`PartitionTrigger`, which the triggerer runs (``airflow triggerer``; ``airflow
standalone`` starts one; ``dag.test()`` runs it inline), so no worker slot is held while it
waits. When the wait (``timeout``) passes, the task fails once, without retries, with a line
saying which partition is missing and where (:func:`prox_tasks.pipeline.refresh.missing_partition`).
With a completion marker (the ``partition_marker`` Param, e.g. ``_SUCCESS``), the partition
has arrived only once the marker is there: a partition written in several files holds a
readable file long before its last one lands (:mod:`prox_tasks.storage.marker`).
Without a triggerer, ``deferrable=False`` falls back to a sensor in reschedule mode with the
same failure line.

Lives in the plugins folder, which Airflow puts on ``sys.path`` of every component (the DAG
processor, workers and the triggerer import the trigger by its class path).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent


class PartitionTrigger(BaseTrigger):
    """Fires once the input holds a readable file, or once ``deadline`` (epoch seconds) passes.

    Args:
        input_uri: The run's crawl partition (path, ``file://``, ``s3://``).
        poke_interval: Seconds between two looks.
        deadline: When to give up (``time.time()`` scale).
        started: When the wait began (the event reports how long it waited).
        format: The run's ``format`` Param: files of any name count when it is set (a
            trigger serialized without it, before the Param existed, goes by the names).
        partition_marker: The run's completion marker: only it counts when set (a trigger
            serialized before the Param existed has none).
    """

    def __init__(self, input_uri: str, poke_interval: float, deadline: float, started: float,
                 format: str | None = None, partition_marker: str | None = None):
        super().__init__()
        self.input_uri, self.poke_interval = input_uri, float(poke_interval)
        self.deadline, self.started = float(deadline), float(started)
        self.format, self.partition_marker = format, partition_marker

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__name__}",
                {"input_uri": self.input_uri, "poke_interval": self.poke_interval,
                 "deadline": self.deadline, "started": self.started, "format": self.format,
                 "partition_marker": self.partition_marker})

    async def run(self):
        from prox_tasks.pipeline.refresh import partition_arrived

        while True:
            # listing files is blocking I/O (local or S3): off the triggerer's event loop
            arrived = await asyncio.to_thread(partition_arrived, {
                "input_uri": self.input_uri, "format": self.format,
                "partition_marker": self.partition_marker})
            now = time.time()
            if arrived or now >= self.deadline:
                yield TriggerEvent({"status": "arrived" if arrived else "missing",
                                    "input_uri": self.input_uri,
                                    "waited_s": round(now - self.started, 3)})
                return
            await asyncio.sleep(max(0.0, min(self.poke_interval, self.deadline - now)))


class PartitionSensor(BaseSensorOperator):
    """Wait until the run's crawl partition has arrived (see the module docs).

    A scheduled or backfill run waits; a manual run goes on at once (its ``plan`` names
    what is missing) unless its ``wait_for_partition`` Param is set.

    Args:
        snapshot: ``resolve``'s result (``input_uri``, ``partition``, ``format``,
            ``partition_marker``); templated, so an
            XComArg works.
        deferrable: Wait in the triggerer (True) or as a sensor in reschedule mode.
        **kwargs: ``poke_interval``, ``timeout`` and the other sensor arguments.
    """

    template_fields = ("snapshot",)
    ui_color = "#e8f4ff"

    def __init__(self, *, snapshot, deferrable: bool = True, **kwargs):
        kwargs.setdefault("mode", "poke" if deferrable else "reschedule")
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.deferrable = deferrable

    def _waits(self, context) -> bool:
        return (context["dag_run"].run_type != "manual"
                or bool(context["params"].get("wait_for_partition")))

    def poke(self, context) -> bool:
        from prox_tasks.pipeline.refresh import partition_arrived

        return not self._waits(context) or partition_arrived(self.snapshot)

    def execute(self, context) -> None:
        from prox_tasks.pipeline.errors import fail_fast

        # a look on the worker meets what no retry fixes (no S3 credentials: botocore's bare
        # "Unable to locate credentials" was retried with backoff): fail once, saying so
        with fail_fast(AirflowFailException):
            self._wait(context)

    def _wait(self, context) -> None:
        from prox_tasks.pipeline.refresh import missing_partition

        if not self.deferrable:
            try:
                super().execute(context)
            except AirflowSensorTimeout:
                raise AirflowSensorTimeout(missing_partition(self.snapshot, self.timeout)) \
                    from None
            return
        if self.poke(context):
            return
        now = time.time()
        self.log.info("crawl partition %s has not arrived; waiting in the triggerer (a look "
                      "every %.0f s, at most %.0f s)", self.snapshot["input_uri"],
                      self.poke_interval, self.timeout)
        self.defer(trigger=PartitionTrigger(self.snapshot["input_uri"], self.poke_interval,
                                            now + self.timeout, now,
                                            self.snapshot.get("format"),
                                            self.snapshot.get("partition_marker")),
                   method_name="execute_complete")

    def execute_complete(self, context, event: dict) -> None:
        """Back from the triggerer: go on, or fail once saying what is missing."""
        from prox_tasks.pipeline.refresh import missing_partition

        if event["status"] != "arrived":
            raise AirflowFailException(missing_partition(self.snapshot, event["waited_s"]))
        self.log.info("crawl partition %s arrived after %.0f s", event["input_uri"],
                      event["waited_s"])
