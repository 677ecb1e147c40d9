"""The indexes derived from stored messages, kept inside the writes' own transactions
(under the conversation's lock), so that neither is ever behind nor ahead of a
committed write: the search index (search.services) and the unread index
(readstate.counting, issue 18). Every write path of messaging.services calls one of
these, never the two indexes one by one."""

from datetime import datetime

from messaging.documents import Conversation, ConversationKind, MessageDocument
from messaging.latest import latest_set_statements
from readstate import counting as unread_index
from search import services as search_services
from slackclone.sql import execute_together


def messages_stored(messages: list[MessageDocument]) -> None:
    """An import stored these (in seq's transaction)."""
    _stored_together(messages, [])


def messages_sent(conversation: Conversation, messages: list[MessageDocument]) -> None:
    """A send or a group commit's batch stored these (in seq's transaction, in seq
    order): their search and unread rows, and the conversation's latest message for
    the sidebar (messaging.latest), in one round trip to PostgreSQL."""
    _stored_together(messages, latest_set_statements(conversation, messages))


def _stored_together(messages: list[MessageDocument], also: list) -> None:
    search = search_services.messages_index_statements(messages)
    if search is None:  # a backend outside PostgreSQL: written on its own
        search_services.messages_indexed(messages)
        search = []
    # Searchable and counted from the same commit, in one round trip (slackclone.sql).
    execute_together([*search, *unread_index.entries_add_statements(messages), *also])


def message_edited(message: MessageDocument) -> None:
    """An edit: new content for search, the mentions as they are now for the counts."""
    search_services.messages_indexed([message])
    unread_index.entries_edited(message)


def message_files_removed(message: MessageDocument) -> None:
    """A deleted file left this live message (files.services.file_delete): `has:file`
    follows what the message carries now. The counts do not depend on files."""
    search_services.messages_indexed([message])


def messages_deleted(messages: list[MessageDocument]) -> None:
    """Soft deletes (author, staff, moderation): no longer found nor counted."""
    search_services.messages_unindexed(messages)
    unread_index.entries_remove(messages)


def conversation_dropped(conversation: Conversation) -> None:
    """A deleted conversation (or an orphan's messages removed): all its rows."""
    search_services.conversation_unindexed(conversation)
    unread_index.conversation_entries_drop(conversation)


def messages_purged(*, created_before: datetime, kind: ConversationKind, conversation_id=None, workspace_id=None):
    """Retention removed the messages created before `created_before`."""
    scope = {"kind": kind, "conversation_id": conversation_id, "workspace_id": workspace_id}
    search_services.messages_purged(created_before=created_before, **scope)
    unread_index.entries_purged(created_before=created_before, **scope)
