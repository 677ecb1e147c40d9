"""The search backend interface, and the configured backend (settings.SEARCH_BACKEND).

A backend keeps an index of the messages (both stores' ids, the conversation, the
sender, the time, the text and a few flags) and answers a SearchSpec with message ids
in order. Everything a backend is given is already checked: the conversations a
SearchSpec names are the ones the caller may read (search.selectors decides that), so a
backend has no access rule of its own. The writes are called by messaging's services
inside the PostgreSQL transaction that stores the change (see docs/search.md); a
backend that lives elsewhere (OpenSearch) would queue them in an outbox table in that
same transaction instead.
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from messaging.documents import Conversation, ConversationKind, MessageDocument
from search.query import Term


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """What to find. `conversations` is never empty (the caller's readable ones, or one
    conversation for moderation; None only for moderation of a whole collection)."""

    workspace_id: str | None
    conversations: list[Conversation] | None
    terms: list[Term] = field(default_factory=list)
    sender_ids: list[str] | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    has: frozenset[str] = frozenset()
    is_: frozenset[str] = frozenset()
    kind: ConversationKind | None = None
    deleted: bool | None = False  # False: live only, True: deleted only, None: both
    text_only: bool = True  # TEXT messages only (SYSTEM ones are not searched by users)
    sort: str = "recent"  # or "relevance"
    seek: tuple | None = None  # the last hit's sort key of the previous page
    limit: int = 20


@dataclass(frozen=True, slots=True)
class Hit:
    message_id: str
    kind: ConversationKind
    conversation_id: str
    created_at: datetime
    rank: float

    @property
    def sort_key(self) -> tuple:
        return (self.rank, self.created_at, self.message_id)


class SearchBackend(Protocol):
    def index_statements(self, messages: list[MessageDocument]) -> list[tuple[str, list]] | None:
        """`index_messages` as PostgreSQL statements ((sql, params), none for no
        messages) that the caller runs in its own transaction, with its other writes
        in one round trip (messaging.services.derived); None if this backend does not
        write to the project's PostgreSQL. Optional: a backend without it is written
        with `index_messages`."""

    def index_messages(self, messages: list[MessageDocument]) -> None:
        """Add or replace these messages' entries (a send, an edit, a reindex batch)."""

    def mark_deleted(self, messages: list[MessageDocument]) -> None:
        """These messages were soft-deleted: never found again by users."""

    def delete_conversation(self, conversation: Conversation) -> int:
        """Drop every entry of a deleted conversation."""

    def delete_older_than(
        self, *, created_before: datetime, kind: ConversationKind, conversation_id=None, workspace_id=None
    ) -> int:
        """Retention: drop the entries of purged messages."""

    def search(self, spec: SearchSpec) -> list[Hit]:
        """Up to spec.limit hits after spec.seek, in spec.sort order."""


@cache
def get_backend() -> SearchBackend:
    return import_string(settings.SEARCH_BACKEND)()
