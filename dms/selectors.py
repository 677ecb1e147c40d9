"""Reads and access checks for DM conversations."""

from dataclasses import dataclass
from uuid import UUID

from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery

from accounts.models import WorkspaceMember
from dms.models import DmConversation
from slackclone import errors


def _participant(user_id) -> Q:
    """The access rule: a conversation is visible to its two users only."""
    return Q(user1_id=user_id) | Q(user2_id=user_id)


def _get_for_participant(queryset: QuerySet[DmConversation], *, user, workspace, conversation_id) -> DmConversation:
    try:
        return queryset.get(_participant(user.pk), pk=conversation_id, workspace_id=getattr(workspace, "pk", workspace))
    except (DmConversation.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Conversation not found.") from exc


def dm_get_for_participant(*, user, workspace, conversation_id: UUID | str) -> DmConversation:
    """The conversation of `workspace` if `user` is one of its two users; 404 for anyone
    else, and for a conversation of another workspace."""
    return _get_for_participant(
        DmConversation.objects.all(), user=user, workspace=workspace, conversation_id=conversation_id
    )


def _with_users(workspace) -> QuerySet[DmConversation]:
    """Both users loaded (for `other_user`), each with their role in the workspace."""
    workspace_id = getattr(workspace, "pk", workspace)
    role1 = WorkspaceMember.objects.filter(workspace_id=workspace_id, user_id=OuterRef("user1_id"))
    role2 = WorkspaceMember.objects.filter(workspace_id=workspace_id, user_id=OuterRef("user2_id"))
    return DmConversation.objects.select_related("user1", "user2").annotate(
        user1_workspace_role=Subquery(role1.values("role")[:1]),
        user1_workspace_is_active=Subquery(role1.values("is_active")[:1]),
        user2_workspace_role=Subquery(role2.values("role")[:1]),
        user2_workspace_is_active=Subquery(role2.values("is_active")[:1]),
    )


def dm_get_for_participant_with_users(*, user, workspace, conversation_id: UUID | str) -> DmConversation:
    """As `dm_get_for_participant`, with both users loaded (for `other_user`) in the same query."""
    return _get_for_participant(_with_users(workspace), user=user, workspace=workspace, conversation_id=conversation_id)


def dm_list_for_participant(*, user, workspace) -> QuerySet[DmConversation]:
    """The conversations of `workspace` that `user` is in, with both users loaded (for
    `other_user`); served by the (workspace, user1|user2, created_at) indexes."""
    return _with_users(workspace).filter(_participant(user.pk), workspace_id=workspace.pk)


def dm_get_for_pair(*, workspace, user1_id: UUID, user2_id: UUID) -> DmConversation:
    return _with_users(workspace).get(workspace_id=workspace.pk, user1_id=user1_id, user2_id=user2_id)


def user_dm_ids(*, user_id: UUID | str, workspace_id: UUID | str | None) -> list[str]:
    """The DM conversations of `workspace_id` (None: of every workspace, see
    channels_app.selectors.user_channel_ids) that `user_id` is one of the two users of."""
    conversations = DmConversation.objects.filter(_participant(user_id))
    if workspace_id is not None:
        conversations = conversations.filter(workspace_id=workspace_id)
    return [str(cid) for cid in conversations.values_list("id", flat=True)]


# --- Operations (manage.py check_consistency) -------------------------------------

_MISORDERED_PAIRS_SQL = """
SELECT d.id, d.user1_id, d.user2_id,
       CASE
           WHEN d.user1_id = d.user2_id THEN 'self'
           WHEN EXISTS (
               SELECT 1 FROM dm_conversations o
               WHERE o.workspace_id = d.workspace_id AND o.user1_id = d.user2_id AND o.user2_id = d.user1_id
           ) THEN 'duplicate'
           ELSE 'swapped'
       END
FROM dm_conversations d
WHERE d.user1_id >= d.user2_id
ORDER BY d.created_at, d.id
"""


@dataclass(frozen=True, slots=True)
class MisorderedDm:
    """A conversation whose pair is not stored smaller-UUID-first.

    problem: "swapped" (fixable: swap the two users), "duplicate" (the well-ordered
    conversation of the same pair exists too: two histories to merge by hand) or
    "self" (both users are the same)."""

    id: UUID
    user1_id: UUID
    user2_id: UUID
    problem: str

    @property
    def fixable(self) -> bool:
        return self.problem == "swapped"


def dm_ids_existing(*, conversation_ids: list[str]) -> set[str]:
    """Which of these conversation ids (canonical UUID strings) exist."""
    valid = []
    for cid in conversation_ids:
        try:
            valid.append(UUID(cid))
        except (TypeError, ValueError):
            continue
    return {str(pk) for pk in DmConversation.objects.filter(pk__in=valid).values_list("pk", flat=True)}


def dm_misordered_pairs() -> list[MisorderedDm]:
    """Conversations whose pair is not stored smaller-first (user1_id >= user2_id).

    The CHECK constraint dm_conversations_ordered_pair makes this impossible while it
    exists; this is raw SQL so that it also finds such rows where the constraint was
    dropped or never applied (a restored dump, a hand-made migration)."""
    with connection.cursor() as cursor:
        cursor.execute(_MISORDERED_PAIRS_SQL)
        return [MisorderedDm(*row) for row in cursor.fetchall()]
