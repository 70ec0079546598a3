"""``[core] hostname_callable`` for the loopback Celery workers.

All workers of the test deployment run on one machine; each reports the name it was started
with (``PROX_TEST_WORKER_NAME``) so a task instance's ``hostname`` says which worker ran it,
as separate machines' host names would.
"""

import os
import socket


def worker_name() -> str:
    return os.environ.get("PROX_TEST_WORKER_NAME") or socket.getfqdn()
