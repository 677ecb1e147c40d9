"""Writes for DM conversations."""

from uuid import UUID

from django.db import connection, transaction

from accounts.selectors import user_get_active, workspace_or_default
from dms import selectors
from dms.models import DmConversation, GroupDm, GroupDmMember
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
    (404 `user_not_found` for anyone else), created if needed. A pair that has one
    already gets it even if the other has been deactivated since: it is in the caller's
    sidebar and its history stays readable, so "open" must not answer 404 for it.

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
    user1_id, user2_id = dm_pair(user.pk, other_user_id)
    try:  # the pair has one already: 200, even if the other was deactivated since (as group_dm_open)
        return selectors.dm_get_for_pair(workspace=workspace, user1_id=user1_id, user2_id=user2_id), False
    except DmConversation.DoesNotExist:
        pass
    user_get_active(workspace=workspace, user_id=other_user_id)
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


# --- Group DMs (issue 16) ------------------------------------------------------------


def group_dm_open(*, user, workspace=None, user_ids: list[UUID | str]) -> tuple[GroupDm, bool]:
    """The group DM of `workspace` whose members are `user` and `user_ids` (2-8 other
    distinct active members of the workspace: 400 `invalid_members` for fewer, more,
    repeats or yourself; 404 `user_not_found` for anyone else), created if needed.

    Returns (group DM, created). A set that has one already gets it (200) even if one
    of its members has been deactivated since: its members can still read and post in
    it, and it is in their sidebar, so "open" must not answer 404 for it.

    One per member set: the set's canonical key
    (dms.selectors.group_dm_member_key) is unique per workspace, so concurrent opens of
    the same set, in any order of `user_ids`, insert at most one row (INSERT ... ON
    CONFLICT DO NOTHING) and all get that row; only the one that created it adds the
    members and announces it (the members are added in the creating transaction, so
    nobody ever sees the row without them).
    """
    workspace = workspace_or_default(workspace)
    others = [uid if isinstance(uid, UUID) else UUID(str(uid)) for uid in user_ids]
    if user.pk in others or len(set(others)) != len(others) or not 2 <= len(others) <= 8:
        text = "Give 2-8 distinct other members (not yourself)."
        raise errors.ValidationFailed(text, code="invalid_members", fields={"user_ids": [text]})
    key = selectors.group_dm_member_key([user.pk, *others])
    try:  # the set has one already (the caller is in it): 200, whoever has been deactivated since
        return selectors.group_dm_get_by_key(workspace=workspace, member_key=key), False
    except GroupDm.DoesNotExist:
        pass
    members = [user.pk] + [user_get_active(workspace=workspace, user_id=uid).pk for uid in others]
    with transaction.atomic():
        candidate = GroupDm(workspace=workspace, member_key=key, created_by=user)
        GroupDm.objects.bulk_create([candidate], ignore_conflicts=True)
        # ignore_conflicts: a concurrent creator's row, not yet committed, makes this insert
        # wait for it, then skip: the row read below is then the committed one, members and all.
        created = GroupDm.objects.filter(pk=candidate.pk).exists()
        if created:
            GroupDmMember.objects.bulk_create([GroupDmMember(group_dm=candidate, user_id=uid) for uid in members])
            conversation_id, member_ids, workspace_id = str(candidate.pk), [str(m) for m in members], str(workspace.pk)
            transaction.on_commit(
                lambda: broadcast.dm_created(
                    conversation_id=conversation_id, user_ids=member_ids, workspace_id=workspace_id
                )
            )
    return selectors.group_dm_get_by_key(workspace=workspace, member_key=key), created
