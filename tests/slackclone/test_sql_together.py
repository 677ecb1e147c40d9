"""slackclone.sql.execute_together: write statements in one round trip (issue 13: a
hot conversation's lock is held across every round trip of its send)."""

import pytest
from django.db import connection, transaction

from slackclone.sql import execute_together, values_rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scratch():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE sql_together_scratch (n int PRIMARY KEY, label text)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE sql_together_scratch")


def _rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT n, label FROM sql_together_scratch ORDER BY n")
        return cursor.fetchall()


def test_statements_run_in_order_in_one_round_trip_with_their_values_bound(scratch, django_assert_num_queries):
    hostile = "x'); DROP TABLE sql_together_scratch; --"
    rows, params = values_rows("(%s, %s)", [(1, "one"), (2, hostile)])
    with django_assert_num_queries(1):
        execute_together(
            [
                (f"INSERT INTO sql_together_scratch (n, label) VALUES {rows}", params),
                ("UPDATE sql_together_scratch SET label = label || %s WHERE n = %s", ["!", 1]),
                ("INSERT INTO sql_together_scratch (n, label) VALUES (%s, %s)", [3, "100%"]),
            ]
        )
    assert _rows() == [(1, "one!"), (2, hostile), (3, "100%")]


def test_a_failing_statement_raises_and_its_transaction_keeps_nothing(scratch):
    with pytest.raises(Exception, match="duplicate key"), transaction.atomic():
        execute_together(
            [
                ("INSERT INTO sql_together_scratch (n, label) VALUES (%s, %s)", [1, "kept?"]),
                ("INSERT INTO sql_together_scratch (n, label) VALUES (%s, %s)", [1, "twice"]),
            ]
        )
    assert _rows() == []
    assert execute_together([]) == []  # nothing to do: no round trip, no error


@pytest.mark.parametrize("server_side_binding", [False, True], ids=["one-round-trip", "one-by-one"])
def test_each_statements_first_row_is_returned(scratch, monkeypatch, server_side_binding):
    """Rows come back per statement (None for one without a result or without a row),
    the same whether the statements go together or, with server-side binding, apart."""
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", server_side_binding)
    rows = execute_together(
        [
            ("INSERT INTO sql_together_scratch (n, label) VALUES (%s, %s) RETURNING n * 2", [21, "a"]),
            ("INSERT INTO sql_together_scratch (n, label) VALUES (%s, %s)", [22, "b"]),
            ("SELECT label FROM sql_together_scratch WHERE n = %s", [99]),
            ("SELECT count(*) FROM sql_together_scratch", []),
        ]
    )
    assert rows == [(42,), None, None, (2,)]
