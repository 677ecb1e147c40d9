"""Reads and access checks for DM conversations."""

from uuid import UUID

from django.db.models import Q

from dms.models import DmConversation
from slackclone import errors


def dm_get_for_participant(*, user, conversation_id: UUID | str) -> DmConversation:
    """The conversation if `user` is one of its two users; 404 for anyone else."""
    try:
        return DmConversation.objects.get(Q(user1_id=user.pk) | Q(user2_id=user.pk), pk=conversation_id)
    except (DmConversation.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Conversation not found.") from exc


def user_dm_ids(*, user_id: UUID | str) -> list[str]:
    return [
        str(cid)
        for cid in DmConversation.objects.filter(Q(user1_id=user_id) | Q(user2_id=user_id)).values_list("id", flat=True)
    ]
