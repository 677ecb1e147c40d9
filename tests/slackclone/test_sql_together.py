"""slackclone.sql.execute_together: write statements in one round trip (issue 13: a
hot conversation's lock is held across every round trip of its send)."""

import pytest
from django.db import connection, transaction

from slackclone.sql import ROWS_PER_STATEMENT, execute_together, unnest_statements

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
    [rows] = unnest_statements(
        "INSERT INTO sql_together_scratch (n, label) {rows}", ("int", "text"), [(1, "one"), (2, hostile)]
    )
    with django_assert_num_queries(1):
        execute_together(
            [
                rows,
                ("UPDATE sql_together_scratch SET label = label || %s WHERE n = %s", ["!", 1]),
                ("INSERT INTO sql_together_scratch (n, label) VALUES (%s, %s)", [3, "100%"]),
            ]
        )
    assert _rows() == [(1, "one!"), (2, hostile), (3, "100%")]


def test_unnest_statements_carry_any_value_and_arrays_in_statements_of_bounded_size():
    """Rows as one array per column: NULLs, quotes, backslashes, braces, commas and
    emoji in text and in array elements come back as they were; the statement's text
    and parameter count do not depend on the number of rows (psycopg parses it once)."""
    odd = ['a "quoted" \\ back,slash {brace}', None, "NULL", "", "\U0001f44d\u200d"]
    rows = [(n, text, [text, "x"] if text is not None else None) for n, text in enumerate(odd)]
    sql = (
        "SELECT array_agg(n ORDER BY n), array_agg(t ORDER BY n), "
        "array_agg(array_to_string(a, '|', '<null>') ORDER BY n) FROM ({rows}) AS s(n, t, a)"
    )
    [(text, params)] = unnest_statements(sql, ("int", "text", "text[]"), rows)
    assert len(params) == 3
    [row] = execute_together([(text, params)])
    assert row == (list(range(len(odd))), odd, [f"{t}|x" if t is not None else None for t in odd])
    many = unnest_statements(sql, ("int", "text", "text[]"), rows * (ROWS_PER_STATEMENT // len(rows) + 1))
    assert len(many) == 2 and {statement for statement, _params in many} == {text}
    assert unnest_statements(sql, ("int", "text", "text[]"), []) == []


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
