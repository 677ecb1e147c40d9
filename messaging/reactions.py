"""Reactions (contract: "Reactions"; issue 17).

Stored in the message document (see docs/threads-reactions.md): one string
"<emoji> <user id>" per (emoji, user) in `reactions` (session 5; before, an `{e, u}`
pair, which FerretDB 1.24 decodes about twice as slowly: both are read, and
`reactions_backfill` rewrites the pairs), and the distinct emoji in order of first use in
`reactionEmoji`. Adding is ONE `$addToSet` of the string (so the same reaction from two
devices at once is stored once) conditioned on the emoji being there already or fewer
than REACTIONS_MAX_EMOJI being there; removing is a `$pullAll` of both forms. Both run
under the conversation's lock (FerretDB 1.24 writes whole documents; on MongoDB the
operators alone are atomic), which also orders the events.

Emoji are validated and normalized with the `emoji` library (Unicode's emoji list,
skin tones, ZWJ sequences, flags; `:shortcodes:` in its English and alias names): the
stored form is the fully-qualified Unicode sequence, so `:+1:`, `:thumbsup:` and 👍
are one reaction, and ❤ (without its variation selector) is ❤️.
"""

import logging
from uuid import UUID

from django.db import transaction

from messaging import repositories_ext as ext
from messaging.documents import Conversation, MessageDocument
from messaging.repositories import MessageRepository
from messaging.services import _lock_if_stored, message_write_locked
from messaging.validation import clean_emoji
from realtime import broadcast, events
from slackclone import errors

logger = logging.getLogger(__name__)

REACTIONS_MAX_EMOJI = 50


def _event(message: MessageDocument, *, emoji: str, user_id: str) -> dict:
    count = next((reaction.count for reaction in message.reactions if reaction.emoji == emoji), 0)
    return {
        message.conversation.api_field: message.conversation.id,
        "message_id": message.id,
        "emoji": emoji,
        "user_id": user_id,
        "count": count,
    }


def _announce(event_type: str, fields: dict) -> None:
    try:
        broadcast.conversation_event(event_type=event_type, fields=fields)
    except Exception:
        logger.exception("%s broadcast failed", event_type)


def _has(message: MessageDocument, *, emoji: str, user_id: str) -> bool:
    return any(reaction.emoji == emoji and user_id in reaction.user_ids for reaction in message.reactions)


def reaction_set(
    *,
    user,
    workspace=None,
    message_id: object,
    emoji: object,
    present: bool,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> MessageDocument:
    """PUT (`present` true) / DELETE (false) …/messages/{id}/reactions/{emoji}: add or
    remove the caller's reaction; idempotent (a no-op answers the message as it is and
    announces nothing). Members only (403/404 as for history); an archived channel is
    read-only (409 `channel_archived`); a deleted or unknown message is a 404; 400
    `invalid_emoji`; 409 `too_many_reactions` for a 51st different emoji. Announces
    `reaction.added` / `reaction.removed` with the emoji's new count, under the lock.
    Returns the message after the change."""
    emoji = clean_emoji(emoji)
    user_id = str(user.pk)
    scope = {"channel_id": channel_id, "conversation_id": conversation_id}
    with message_write_locked(user=user, workspace=workspace, message_id=message_id, **scope) as (repo, before):
        conversation, message_id = before.conversation, before.id
        if _has(before, emoji=emoji, user_id=user_id) == present:
            return before  # idempotent: nothing changes, nothing is announced
        if present:
            after = ext.reaction_add(
                repo,
                conversation_id=conversation.id,
                message_id=message_id,
                emoji=emoji,
                user_id=user_id,
                max_distinct=REACTIONS_MAX_EMOJI,
            )
            if after is None:
                raise errors.Conflict(
                    f"A message can have at most {REACTIONS_MAX_EMOJI} different emoji.", code="too_many_reactions"
                )
        else:
            after = ext.reaction_remove(
                repo, conversation_id=conversation.id, message_id=message_id, emoji=emoji, user_id=user_id
            )
            if after is None:
                raise errors.NotFound("Message not found.")
        _announce(
            events.REACTION_ADDED if present else events.REACTION_REMOVED, _event(after, emoji=emoji, user_id=user_id)
        )
    return after


def reactions_backfill(repo: MessageRepository, *, attempts: int = 5) -> int:
    """Rewrite the `{e, u}` pairs of the messages stored before session 5 as strings
    (`manage.py backfill_seq_blocks` runs it; the read maps both forms, so it can run
    while the server serves). Each message in its own transaction under its
    conversation's lock (the lock every reaction write takes: FerretDB 1.24 applies an
    update as a read and a whole-document write, so a write outside it could undo a
    concurrent reaction), with the array as read as the update's filter (on MongoDB
    that alone keeps a concurrent write). Idempotent. Returns how many messages were
    rewritten; one still changing after `attempts` tries is left for the next run."""
    rewritten = 0
    for conversation_id, message_id in ext.reactions_old_shape_ids(repo):
        conversation = Conversation(repo.kind, conversation_id)
        for _ in range(attempts):
            with transaction.atomic():
                _lock_if_stored(conversation)
                if ext.reactions_compact(repo, conversation_id=conversation_id, message_id=message_id):
                    rewritten += 1
                    break
    return rewritten
