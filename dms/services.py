"""Writes for DM conversations."""

from uuid import UUID

from django.db import connection, transaction

from accounts.selectors import user_get_active, workspace_or_default
from dms import selectors
from dms.models import DmConversation
from realtime import broadcast
from slackclone import errors


def dm_pair(a: UUID, b: UUID) -> tuple[UUID, UUID]:
    """The pair in stored order: user1 holds the smaller UUID.

    `uuid.UUID` objects compare as their 128-bit big-endian integers, i.e. bytewise,
    which is how PostgreSQL orders `uuid` values (the CHECK user1 < user2 agrees).
    """
    return (a, b) if a < b else (b, a)


def dm_open(*, user, workspace=None, other_user_id: UUID | str) -> tuple[DmConversation, bool]:
    """The conversation of `workspace` between `user` and another active member of it
    (404 `user_not_found` for anyone else), created if needed.

    Returns (conversation, created). Concurrent opens of the same pair, in either order,
    insert at most one row (INSERT ... ON CONFLICT DO NOTHING on the unique pair) and
    all get that row; only the one that created it announces it.
    """
    workspace = workspace_or_default(workspace)
    other_user_id = other_user_id if isinstance(other_user_id, UUID) else UUID(str(other_user_id))
    if other_user_id == user.pk:
        raise errors.ValidationFailed(
            "You cannot start a conversation with yourself.",
            code="cannot_dm_self",
            fields={"user_id": ["Must be another user."]},
        )
    other = user_get_active(workspace=workspace, user_id=other_user_id)
    user1_id, user2_id = dm_pair(user.pk, other.pk)
    with transaction.atomic():
        candidate = DmConversation(workspace=workspace, user1_id=user1_id, user2_id=user2_id)
        DmConversation.objects.bulk_create([candidate], ignore_conflicts=True)
        conversation = selectors.dm_get_for_pair(workspace=workspace, user1_id=user1_id, user2_id=user2_id)
        created = conversation.pk == candidate.pk
        if created:
            conversation_id, user_ids = str(conversation.pk), [str(user1_id), str(user2_id)]
            workspace_id = str(workspace.pk)
            transaction.on_commit(
                lambda: broadcast.dm_created(
                    conversation_id=conversation_id, user_ids=user_ids, workspace_id=workspace_id
                )
            )
    return conversation, created


_SWAP_PAIR_SQL = """
UPDATE dm_conversations
SET user1_id = user2_id, user2_id = user1_id
WHERE id = %s AND user1_id > user2_id
  AND NOT EXISTS (
      SELECT 1 FROM dm_conversations o
      WHERE o.workspace_id = dm_conversations.workspace_id
        AND o.user1_id = dm_conversations.user2_id AND o.user2_id = dm_conversations.user1_id
  )
"""


def dm_pair_order_fix(*, conversation_ids: list[UUID]) -> int:
    """Store these conversations' pairs smaller-first again, by swapping the two users
    (maintenance, `check_consistency --fix`); returns how many were swapped. Only a
    conversation that is still misordered and whose well-ordered twin does not exist is
    changed: the rest need a person to merge two histories."""
    fixed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for conversation_id in conversation_ids:
            cursor.execute(_SWAP_PAIR_SQL, [conversation_id])
            fixed += cursor.rowcount
    return fixed
