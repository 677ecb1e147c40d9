"""PostgreSQL connections come from a per-process pool (DB_POOL_MAX_SIZE): a request
borrows one and gives it back when it ends, instead of connecting every time."""

import threading

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid_in_a_new_thread() -> int:
    """What a request does under ASGI: run in a thread of its own, use the database,
    close the connection at the end (Django's request_finished)."""
    pids = []

    def request():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
        finally:
            connection.close()

    thread = threading.Thread(target=request)
    thread.start()
    thread.join(10)
    return pids[0]


def test_requests_in_threads_of_their_own_reuse_the_pools_connections():
    pool = settings.DATABASES["default"]["OPTIONS"]["pool"]
    requests = 3 * pool["max_size"]

    pids = [_backend_pid_in_a_new_thread() for _ in range(requests)]

    # Without a pool every request would connect anew: `requests` backends. The pool may
    # have grown earlier in this process (up to max_size), and hands its idle
    # connections out in turn, so count at most that many.
    assert len(set(pids)) <= pool["max_size"] < requests, pids
