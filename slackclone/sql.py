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
