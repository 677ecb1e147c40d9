"""Reads and access checks for DM conversations."""

from uuid import UUID

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
