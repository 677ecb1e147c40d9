"""Reads and access checks for DM conversations."""

from dataclasses import dataclass
from uuid import UUID

from django.db import connection
from django.db.models import Q, QuerySet

from dms.models import DmConversation
from slackclone import errors


def _participant(user_id) -> Q:
    """The access rule: a conversation is visible to its two users only."""
    return Q(user1_id=user_id) | Q(user2_id=user_id)


def _get_for_participant(queryset: QuerySet[DmConversation], *, user, conversation_id) -> DmConversation:
    try:
        return queryset.get(_participant(user.pk), pk=conversation_id)
    except (DmConversation.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Conversation not found.") from exc


def dm_get_for_participant(*, user, conversation_id: UUID | str) -> DmConversation:
    """The conversation if `user` is one of its two users; 404 for anyone else."""
    return _get_for_participant(DmConversation.objects.all(), user=user, conversation_id=conversation_id)


def dm_get_for_participant_with_users(*, user, conversation_id: UUID | str) -> DmConversation:
    """As `dm_get_for_participant`, with both users loaded (for `other_user`) in the same query."""
    return _get_for_participant(
        DmConversation.objects.select_related("user1", "user2"), user=user, conversation_id=conversation_id
    )


def dm_list_for_participant(*, user) -> QuerySet[DmConversation]:
    """The conversations `user` is in, with both users loaded (for `other_user`)."""
    return DmConversation.objects.filter(_participant(user.pk)).select_related("user1", "user2")


def dm_get_for_pair(*, user1_id: UUID, user2_id: UUID) -> DmConversation:
    return DmConversation.objects.select_related("user1", "user2").get(user1_id=user1_id, user2_id=user2_id)


def user_dm_ids(*, user_id: UUID | str) -> list[str]:
    return [str(cid) for cid in DmConversation.objects.filter(_participant(user_id)).values_list("id", flat=True)]


# --- Operations (manage.py check_consistency) -------------------------------------

_MISORDERED_PAIRS_SQL = """
SELECT d.id, d.user1_id, d.user2_id,
       CASE
           WHEN d.user1_id = d.user2_id THEN 'self'
           WHEN EXISTS (
               SELECT 1 FROM dm_conversations o WHERE o.user1_id = d.user2_id AND o.user2_id = d.user1_id
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
