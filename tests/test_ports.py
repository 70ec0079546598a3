"""Servers the tests start on loopback ports (tests/ports.py): a port taken between its pick
and the server's bind (by another pytest-xdist worker's server) no longer fails the start.

The race itself cannot be timed for real: the first port these tests pick is one a real
listening socket holds, as the other worker's server would (``free_port`` made to give it
first: the one stand-in, named here); the servers then fail to bind it for real."""

import socket

import pytest

from tests import ports


@pytest.fixture
def first_pick_taken(monkeypatch):
    """``ports.free_port`` gives a port a listening socket holds first, then free ones."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    picks = [taken.getsockname()[1]]
    real = ports.free_port
    import tests.deploy.postgres
    import tests.deploy.redis

    # wherever a server takes its pick from (each of these once had a copy of its own)
    for module in (ports, tests.deploy.postgres, tests.deploy.redis):
        monkeypatch.setattr(module, "free_port", lambda: picks.pop() if picks else real(),
                            raising=False)  # fmt: skip
    yield taken.getsockname()[1]
    taken.close()


def test_redis_starts_on_another_port_when_its_first_was_taken(first_pick_taken):
    from tests.deploy.redis import RedisServer, RedisUnavailable

    try:
        server = RedisServer().start()
    except RedisUnavailable as err:
        if "not available" in str(err):
            pytest.skip(str(err))
        raise
    try:
        assert server.port != first_pick_taken and server._ping()
    finally:
        server.stop()


def test_postgres_starts_on_another_port_when_its_first_was_taken(first_pick_taken):
    from tests.deploy.postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as err:
        if "not available" in str(err):
            pytest.skip(str(err))
        raise
    try:
        assert server.port != first_pick_taken
        server.create_database("answers")
    finally:
        server.stop()


def test_a_refused_port_refuses_and_cannot_be_taken():
    port = ports.refused_port()
    with socket.socket() as client, pytest.raises(ConnectionRefusedError):
        client.connect(("127.0.0.1", port))
    with socket.socket() as other, pytest.raises(OSError, match="in use"):
        other.bind(("127.0.0.1", port))
