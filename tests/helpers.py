"""Test helpers."""

import contextlib
from dataclasses import dataclass, field
from unittest import mock

from realtime import broadcast

BROADCAST_FUNCTIONS = [
    "message_created",
    "messages_created",
    "message_updated",
    "message_deleted",
    "member_joined",
    "member_left",
    "dm_created",
    "member_unsubscribe",
    "member_resubscribe",
    "member_removed_announce",
    "member_role_changed",
    "channel_updated",
    "channel_deleted",
    "sessions_close",
    "conversation_event",  # issue 17: thread.updated, reaction.added, reaction.removed
    "user_event",  # issue 18: read.updated
    "user_events",  # issue 18: notification
]


@dataclass
class Broadcasts:
    calls: list[tuple[str, dict]] = field(default_factory=list)
    publishes: int = 0  # calls of message_created or messages_created (one publish each)

    def of(self, name: str) -> list[dict]:
        return [kwargs for called, kwargs in self.calls if called == name]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@contextlib.contextmanager
def capture_broadcasts():
    """Record every call to realtime.broadcast (and send nothing), like Zulip's
    capture_send_event_calls. Use with django_capture_on_commit_callbacks(execute=True)
    in `db` tests, so broadcasts scheduled on commit run."""
    captured = Broadcasts()
    patches = []
    for name in BROADCAST_FUNCTIONS:

        def record(_name=name, **kwargs):
            if _name in ("message_created", "messages_created"):
                captured.publishes += 1
            if _name == "messages_created":  # a group commit's one publish: one call per message
                captured.calls += [("message_created", {"message": message}) for message in kwargs["messages"]]
                return
            captured.calls.append((_name, kwargs))

        patches.append(mock.patch.object(broadcast, name, side_effect=record))
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield captured


@contextlib.contextmanager
def renamed_in_database(model, field: str | None = None, *, sql_writers=()):
    """`model`'s table (or, with `field`, that field's column) renamed in PostgreSQL and
    in the model's metadata, as a `db_table` (`db_column`) would name it, for the `with`
    block (a `db` test's transaction; renamed back on exit). `sql_writers`: the
    functools.cache'd functions writing SQL once per process (slackclone.sql), cleared on
    entry and on exit, so that they write it for the renamed name, then the real one."""
    from django.db import connection

    quote = connection.ops.quote_name
    table = model._meta.db_table
    if field is None:
        target, attribute, old = model._meta, "db_table", table
    else:
        target, attribute, old = model._meta.get_field(field), "column", model._meta.get_field(field).column
    new = f"{old}_renamed"

    def rename(source: str, to: str) -> None:
        if field is None:
            statement = f"ALTER TABLE {quote(source)} RENAME TO {quote(to)}"
        else:
            statement = f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(source)} TO {quote(to)}"
        try:
            with connection.cursor() as cursor:
                # Django's foreign keys are deferred; PostgreSQL alters no table with checks pending.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(statement)
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        finally:  # even in a failed test's aborted transaction: later tests get the real names
            for writer in sql_writers:
                writer.cache_clear()

    rename(old, new)
    try:
        with mock.patch.object(target, attribute, new):
            yield new
    finally:
        rename(new, old)


def backends_waiting_for_a_lock() -> int:
    """PostgreSQL backends of this database waiting for a lock now (pg_stat_activity):
    for race tests that must know a second transaction is blocked before going on."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def http_scope(method: str, path: str, headers=()) -> dict:
    """An HTTP/1.1 scope from 127.0.0.1 for `path` (no query string); `headers`: (name,
    value) byte pairs besides `host`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def image_script_result(tmp_path, *, side: int, script: str, timeout: float) -> float:
    """Run `script` in a fresh Python process of the project, given the path of a flat
    RGBA PNG of side x side pixels; returns the number its last output line prints
    (memory figures must not be taken in the test process, whose heap is shared)."""
    import io
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (side, side), (10, 20, 30, 255)).save(out, "PNG")
    source = tmp_path / "flat.png"
    source.write_bytes(out.getvalue())
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script, str(source)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return float(run.stdout.strip().splitlines()[-1])
