"""Who runs a refine, as the catalog books it, and whether that run is still alive.

A refine killed outright (SIGKILL, the kernel's out-of-memory killer, a lost Celery worker)
runs no ``except`` or ``finally``: its shards stay ``running`` in the catalog. Each booking
therefore names its runner (:func:`current`): the host, the process id and the process's
start time (a process id reused later is another process), and in Airflow the task try. A
later run tells a dead runner (:func:`why_dead`) by what it can check for sure:

- an earlier try of the same Airflow task instance (Airflow runs one try at a time: once
  the next one runs, the earlier one has ended, whichever machine it ran on);
- a process of this machine (host, boot and process-id namespace:
  :func:`prox_tasks.storage.processes.machine`) that no longer runs (or whose id now belongs
  to another process);
- a process of this host that ran before it restarted: the same host name and installation
  (``/etc/machine-id``: :func:`~prox_tasks.storage.processes.installation`) under another
  boot id (:func:`~prox_tasks.storage.processes.boot_ended`). A machine rebooted under a
  ``prox refine`` would otherwise hold its claim and its ``running`` shards for good.

A runner on another host, outside Airflow's tries, cannot be checked from here: its
booking stays as it is. Once every refine task of a DAG run has ended, each runner of that
run has (:func:`why_ended`). From inside an Airflow task, a runner of another DAG run,
wherever it ran, has ended once Airflow says that run has (:func:`why_run_ended`).
"""

from __future__ import annotations

import logging
import os
import socket
import sys

from prox_tasks.storage import processes

log = logging.getLogger(__name__)

#: The fields of an Airflow task instance that, with the try, name one task try.
AIRFLOW_TASK = ("dag_id", "run_id", "task_id", "map_index")


def current(airflow: dict | None = None) -> dict:
    """This process as a runner; ``airflow``: its task try (:data:`AIRFLOW_TASK` fields and
    ``try_number``) when it is an Airflow task."""
    me = {"host": socket.gethostname(), "machine": processes.machine(), "pid": os.getpid(),
          "started": processes.started(os.getpid())}
    if processes.installation():  # tells a restart of this host from another machine
        me["installation"] = processes.installation()
    if airflow:
        me["airflow"] = {k: airflow.get(k) for k in (*AIRFLOW_TASK, "try_number")}
    return me


def run_key(runner: dict | None) -> str | None:
    """What names the run of ``runner``: its Airflow DAG run (every task of it, every try),
    else its process."""
    if not runner:
        return None
    airflow = runner.get("airflow") or {}
    if airflow.get("run_id"):
        return f"airflow:{airflow.get('dag_id')}/{airflow['run_id']}"
    return f"process:{runner.get('host')}/{runner.get('pid')}/{runner.get('started')}"


def why_dead(runner: dict | None, me: dict) -> str | None:
    """Why ``runner`` (a booking's) is known to have ended, as a clause for an error
    message; None when it may still run (or is ``me``)."""
    if not runner or _same_process(runner, me):
        return None
    theirs, mine = runner.get("airflow") or {}, me.get("airflow") or {}
    if (theirs and mine and all(theirs.get(k) == mine.get(k) for k in AIRFLOW_TASK)
            and (theirs.get("try_number") or 0) < (mine.get("try_number") or 0)):
        return (f"Airflow try {theirs.get('try_number')} of {theirs.get('task_id')} "
                f"(map index {theirs.get('map_index')}) ended without booking it")
    if _same_machine(runner, me) and not _alive(runner):
        return f"process {runner.get('pid')} on {runner.get('host')} no longer runs"
    if processes.boot_ended(runner, me):
        return (f"process {runner.get('pid')} on {runner.get('host')} ran before the machine "
                "restarted")
    return None


def why_ended(runner: dict | None, me: dict) -> str | None:
    """Why ``runner`` has ended when every task of ``me``'s Airflow DAG run that refines has
    ended (the DAG's ``book_unfinished`` task, run once they all have): any runner of that
    run but ``me``; None for a runner of another run (or no run)."""
    theirs = (runner or {}).get("airflow") or {}
    if not theirs or _same_process(runner, me) or run_key(runner) != run_key(me):
        return None
    return (f"Airflow try {theirs.get('try_number')} of {theirs.get('task_id')} "
            f"(map index {theirs.get('map_index')}) ended without booking it")


#: The DAG run states Airflow 3 ends a run in: no task of it runs any more.
FINISHED_RUN_STATES = ("success", "failed")


def why_run_ended(runner: dict | None) -> str | None:
    """Why ``runner``'s Airflow DAG run is known to have ended, as a clause for a message:
    asked of Airflow (the Task SDK's ``get_dagrun_state``, through this task's supervisor and
    the API server, never the metadata database) when this process is an Airflow task; None
    for a runner outside Airflow, a run still queued or running, or when there is no one to
    ask (not in a task) or the answer is an error (the run cannot be told ended)."""
    airflow = (runner or {}).get("airflow") or {}
    if not airflow.get("run_id"):
        return None
    # loaded by Airflow in its task processes: prox imports no Airflow (a ``prox label``)
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if getattr(task_runner, "SUPERVISOR_COMMS", None) is None:  # not an Airflow task
        return None
    try:
        state = task_runner.RuntimeTaskInstance.get_dagrun_state(
            dag_id=airflow.get("dag_id"), run_id=airflow["run_id"])
    except Exception as err:  # noqa: BLE001 (a run deleted, an API error: cannot tell)
        log.warning("could not ask Airflow for DAG run %s/%s's state: %s",
                    airflow.get("dag_id"), airflow["run_id"], err)
        return None
    state = getattr(state, "value", state)
    if state not in FINISHED_RUN_STATES:
        return None
    return f"Airflow DAG run {airflow.get('dag_id')}/{airflow['run_id']} has ended ({state})"


def _same_process(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("host", "pid", "started"))


def _alive(runner: dict) -> bool:
    pid = runner.get("pid")
    if not isinstance(pid, int):
        return True  # not a booking this module wrote: nothing to check it by
    return processes.alive(pid, runner.get("started"))


def _same_machine(runner: dict, me: dict) -> bool:
    """Whether this process sees ``runner``'s processes: the same host, and the same boot
    and process-id namespace where both recorded them (containers may share a host name)."""
    if runner.get("host") != me.get("host"):
        return False
    theirs, mine = runner.get("machine"), me.get("machine")
    return not (theirs and mine) or theirs == mine
