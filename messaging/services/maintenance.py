"""Operations on stored messages: counts, a deleted conversation's messages, orphans,
retention, the workspace backfill."""

import logging
from datetime import datetime
from uuid import UUID

from django.db import transaction

from channels_app.selectors import channel_get
from messaging import selectors, validation
from messaging.documents import Conversation, ConversationKind
from messaging.models import MessageSequence
from messaging.repositories import repository_for
from messaging.services import derived

logger = logging.getLogger(__name__)


def conversation_message_count(*, conversation: Conversation) -> int:
    """Every stored message of a conversation, deleted ones included."""
    return repository_for(conversation.kind).count(conversation_id=conversation.id)


def conversation_sequence_delete(*, conversation: Conversation) -> None:
    """Drop a deleted conversation's seq counter (inside the deleting transaction)."""
    MessageSequence.objects.filter(conversation_id=UUID(conversation.id)).delete()
    derived.conversation_dropped(conversation)


def conversation_messages_delete(*, conversation: Conversation) -> int:
    """Hard-delete every message of a conversation that no longer exists in PostgreSQL
    (called once its deletion committed). Never raises: if MongoDB fails, the messages
    are orphans for `manage.py check_consistency --fix`."""
    try:
        deleted = repository_for(conversation.kind).delete_conversation(conversation_id=conversation.id)
    except Exception:
        logger.exception(
            "messages of deleted %s %s not removed from MongoDB: run check_consistency --fix",
            conversation.kind,
            conversation.id,
        )
        return 0
    logger.info("removed %d messages of deleted %s %s", deleted, conversation.kind, conversation.id)
    return deleted


def orphan_messages_delete(*, orphans: list[selectors.OrphanConversation], created_before: datetime) -> dict:
    """Hard-delete the messages (created before `created_before`) of these conversations
    if they still have no PostgreSQL row, which is checked again here; returns
    {collection name: messages deleted}."""
    counts = {repository_for(kind).collection_name: 0 for kind in ConversationKind}
    for kind in ConversationKind:
        ids = [orphan.conversation.id for orphan in orphans if orphan.conversation.kind is kind]
        still_missing = set(ids) - selectors.conversation_ids_existing(kind=kind, conversation_ids=ids)
        repo = repository_for(kind)
        for conversation_id in ids:
            if conversation_id in still_missing:
                counts[repo.collection_name] += repo.delete_conversation(
                    conversation_id=conversation_id, created_before=created_before
                )
                derived.conversation_dropped(Conversation(kind, conversation_id))
    return counts


def messages_purge(
    *,
    older_than: datetime,
    channel_id: UUID | str | None = None,
    workspace_id: UUID | str | None = None,
    dry_run: bool = False,
    progress=None,
) -> dict[str, int]:
    """Retention: hard-delete the messages created before `older_than`, in every channel
    and DM, or in one channel only (404 if it does not exist), or in one workspace
    (`workspace_id`; on its (workspaceId, createdAt) index). `dry_run` only counts.
    Returns {collection name: messages deleted (or that would be)}; `progress(collection,
    deleted so far)` is called after each batch. Nothing is broadcast: the messages are
    far older than anything a client shows live, and history simply starts later (the
    seq counters are kept, so no seq is ever reused)."""
    targets: list[tuple[ConversationKind, str | None]]
    if channel_id is not None:
        cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
        channel_get(workspace=workspace_id, channel_id=cid)
        targets = [(ConversationKind.CHANNEL, cid)]
    else:
        targets = [(ConversationKind.CHANNEL, None), (ConversationKind.DM, None)]
    counts: dict[str, int] = {}
    for kind, conversation_id in targets:
        repo = repository_for(kind)
        if dry_run:
            counts[repo.collection_name] = repo.count_older_than(
                created_before=older_than,
                conversation_id=conversation_id,
                workspace_id=str(workspace_id) if workspace_id is not None else None,
            )
            continue
        name = repo.collection_name
        counts[name] = repo.delete_older_than(
            created_before=older_than,
            conversation_id=conversation_id,
            workspace_id=str(workspace_id) if workspace_id is not None else None,
            progress=(lambda deleted, name=name: progress(name, deleted)) if progress is not None else None,
        )
        derived.messages_purged(
            created_before=older_than, kind=kind, conversation_id=conversation_id, workspace_id=workspace_id
        )
    return counts


def messages_workspace_backfill(*, batch_size: int = 500) -> dict[str, int]:
    """Set `workspaceId` on the documents stored before workspaces existed, from their
    conversation's row in PostgreSQL (idempotent: only documents without one change;
    orphans, whose conversation is gone, are left to check_consistency). Returns
    {collection name: documents updated}."""
    from channels_app.models import Channel
    from dms.models import DmConversation

    models = {ConversationKind.CHANNEL: Channel, ConversationKind.DM: DmConversation}
    counts: dict[str, int] = {}
    for kind, model in models.items():
        repo = repository_for(kind)
        ids = repo.conversation_ids_without_workspace()
        updated = 0
        for start in range(0, len(ids), batch_size):
            chunk = [cid for cid in ids[start : start + batch_size] if validation.is_uuid(cid)]
            by_workspace: dict[str, list[str]] = {}
            for pk, workspace_id in model.objects.filter(pk__in=chunk).values_list("pk", "workspace_id"):
                by_workspace.setdefault(str(workspace_id), []).append(str(pk))
            for workspace_id, conversation_ids in by_workspace.items():
                updated += repo.set_workspace(conversation_ids=conversation_ids, workspace_id=workspace_id)
        counts[repo.collection_name] = updated
    return counts


# Replies numbered per hold of a conversation's lock by threads_number_backfill.
THREAD_NUMBER_STEP = 64


def threads_number_backfill(*, kind: ConversationKind) -> int:
    """Number the replies of every thread stored before session 14 (`threadSeq`, the
    root's `lastThreadSeq`: messaging.repositories_places.thread_number_replies), each
    thread under its conversation's lock, as a send numbers it: THREAD_NUMBER_STEP
    replies per transaction (`thread_number_some`), then one to end it.
    Until then such a thread's pages are read by keyset (correct, slower on FerretDB),
    and its new replies get no place. Idempotent; returns how many threads it numbered."""
    from messaging import repositories_places
    from messaging.services.store import _lock_if_stored

    repo = repository_for(kind)
    numbered = 0
    for conversation_id, root_id in repositories_places.threads_unnumbered(repo):
        # A thread not numbered yet is numbered THREAD_NUMBER_STEP replies per hold of
        # the lock (about 3 ms a reply on FerretDB: sends wait meanwhile), then ended in
        # one step; a thread already numbered (replies an older server stored during a
        # rolling upgrade) is renumbered in one step, since its readers read places.
        more = True
        while more:
            with transaction.atomic():
                _lock_if_stored(Conversation(kind, conversation_id))
                more = repositories_places.thread_number_some(
                    repo, conversation_id=conversation_id, root_id=root_id, most=THREAD_NUMBER_STEP
                )
        with transaction.atomic():
            _lock_if_stored(Conversation(kind, conversation_id))
            if (
                repositories_places.thread_number_replies(repo, conversation_id=conversation_id, root_id=root_id)
                is not None
            ):
                numbered += 1
    return numbered
