"""Test helpers."""

import contextlib
from dataclasses import dataclass, field
from unittest import mock

from realtime import broadcast

BROADCAST_FUNCTIONS = [
    "message_created",
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
]


@dataclass
class Broadcasts:
    calls: list[tuple[str, dict]] = field(default_factory=list)

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
            captured.calls.append((_name, kwargs))

        patches.append(mock.patch.object(broadcast, name, side_effect=record))
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield captured
