import contextlib

import pytest
from django.db import connection


@pytest.fixture
def count_queries():
    """`with count_queries() as sqls:` records every SQL statement run on this thread's connection.

    (CaptureQueriesContext miscounts around test-client requests: each request resets the query log.)
    """
    return _count_queries


@contextlib.contextmanager
def _count_queries():
    sqls: list[str] = []

    def record(execute, sql, params, many, context):
        sqls.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sqls
