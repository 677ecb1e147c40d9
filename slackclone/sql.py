"""Names for SQL written once per process (issue 13).

A few hot paths cost more CPU building and compiling their ORM queryset than running
it: the token lookup of every authenticated request (accounts.selectors.tokens_by_key)
and the channel member checks of every send and read (channels_app.selectors). They
keep their statement in a `functools.cache`d function that writes it on first use, and
take every table and column name in it from here: read from the models' `_meta` (a
`db_table` or `db_column` is followed) and quoted by the connection. Values are always
query parameters, and only the SQL text is cached, never a result (a revoked token or a
removed member is refused by the next query).
"""

from django.db import connection


def table(model) -> str:
    """`model`'s quoted table name (its `db_table`), e.g. `"channels"`."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model, name: str) -> str:
    """The quoted column of `model`'s field `name` (its `db_column`, or Django's default:
    the field `user` of a foreign key is `"user_id"`). FieldDoesNotExist if there is no
    such field."""
    return connection.ops.quote_name(model._meta.get_field(name).column)


def columns(model, alias: str) -> str:
    """Every concrete column of `model` qualified by `alias`, comma-separated, in the order
    of `model._meta.concrete_fields` (the order `Model.from_db` takes with their attnames):
    `c."id", c."workspace_id", ...`."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


Statement = tuple[str, list]  # (sql with %s placeholders, its parameters)


def binds_client_side() -> bool:
    """True if the connection's cursors bind parameters on the client (Django's psycopg
    default), so that several statements with parameters can go as one simple query.
    With `server_side_binding` (exactly True: Django's own test) each statement is
    prepared by the server, which refuses more than one command per statement."""
    return connection.settings_dict["OPTIONS"].get("server_side_binding") is not True


# At most this many rows per statement (`unnest_statements`): the memory that building
# one takes on both sides stays bounded whatever the number of rows (an unread index
# rebuild writes a whole conversation's).
ROWS_PER_STATEMENT = 1000


def unnest_statements(sql: str, types: tuple[str, ...], rows: list) -> list[Statement]:
    """Statements of `sql` for many `rows`, at most ROWS_PER_STATEMENT rows each (none
    for no rows). `sql`'s `{rows}` slot takes a `SELECT` of the rows from one array
    parameter per column (`unnest`); `types` are the columns' SQL types, in the rows'
    order (e.g. `("uuid", "bigint", "uuid[]")`). The text and the number of parameters
    do not depend on the number of rows, so psycopg parses a statement once per process
    (it caches only statements of at most 50 parameters: a multi-row `VALUES` of a
    batch was parsed anew every time, under the conversation's lock). A column of an
    array type takes each row's value as a list (sent as the array's text form)."""
    names = [f"c{index}" for index in range(len(types))]
    select = ", ".join(
        f"{name}::{kind}" if kind.endswith("[]") else name for name, kind in zip(names, types, strict=True)
    )
    arrays = ", ".join("%s::text[]" if kind.endswith("[]") else f"%s::{kind}[]" for kind in types)
    text = sql.format(rows=f"SELECT {select} FROM unnest({arrays}) AS r({', '.join(names)})")  # noqa: S608 (names and types from our code; every value is a parameter)
    statements = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        columns = [list(column) for column in zip(*chunk, strict=True)]
        for index, kind in enumerate(types):
            if kind.endswith("[]"):
                columns[index] = [_array_text(value) for value in columns[index]]
        statements.append((text, columns))
    return statements


def _array_text(values) -> str | None:
    """PostgreSQL's text form of a one-dimensional array: `{"a","b"}`."""
    if values is None:
        return None
    quoted = ('"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"


def execute_together(statements: list[Statement]) -> list[tuple | None]:
    """Run statements in ONE round trip to PostgreSQL, in order, in the caller's
    transaction. Returns the first row of each (None for a statement that returned no
    row, or no rows at all). Django binds psycopg's parameters on the client (its
    default, `server_side_binding` off), so the joined text goes as one simple query,
    and in READ COMMITTED each statement still takes its own snapshot when it starts:
    a statement sees what committed while an earlier one waited for a lock. Under a hot
    conversation's lock, each round trip also waits for the GIL when it comes back
    (issue 13; docs/performance.md), so the send path sends its statements together.
    With server-side binding on, they run one by one (same results, more round trips)."""
    rows: list[tuple | None] = []
    if not statements:
        return rows
    with connection.cursor() as cursor:
        if len(statements) == 1 or not binds_client_side():
            for sql, params in statements:
                cursor.execute(sql, params)
                rows.append(_first_row(cursor))
            return rows
        cursor.execute(
            ";\n".join(sql for sql, _params in statements), [p for _sql, params in statements for p in params]
        )
        rows.append(_first_row(cursor))
        while cursor.nextset():
            rows.append(_first_row(cursor))
    if len(rows) != len(statements):
        raise RuntimeError(f"{len(statements)} statements gave {len(rows)} results")
    return rows


def _first_row(cursor) -> tuple | None:
    return cursor.fetchone() if cursor.description is not None else None
