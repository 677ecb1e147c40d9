"""Reads and access checks for DM conversations."""

from dataclasses import dataclass
from uuid import UUID

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery

from accounts.models import WorkspaceMember
from dms.models import DmConversation, GroupDm, GroupDmMember
from slackclone import errors


def _participant(user_id) -> Q:
    """The access rule: a conversation is visible to its two users only."""
    return Q(user1_id=user_id) | Q(user2_id=user_id)


def _get_for_participant(queryset: QuerySet[DmConversation], *, user, workspace, conversation_id) -> DmConversation:
    try:
        return queryset.get(_participant(user.pk), pk=conversation_id, workspace_id=getattr(workspace, "pk", workspace))
    except (DmConversation.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Conversation not found.") from exc


def dm_get_for_participant(*, user, workspace, conversation_id: UUID | str) -> DmConversation | GroupDm:
    """The DM or group DM of `workspace` (both are addressed by conversation_id, issue 16)
    if `user` is one of its members; 404 for anyone else, and for a conversation of
    another workspace."""
    try:
        return _get_for_participant(
            DmConversation.objects.all(), user=user, workspace=workspace, conversation_id=conversation_id
        )
    except errors.NotFound:
        return group_dm_get_for_member(user=user, workspace=workspace, conversation_id=conversation_id)


def conversation_route_check(*, conversation_id: UUID | str, group: bool) -> None:
    """The REST routes name the kind: `/dms/{id}/…` is a 1:1 DM, `/group-dms/{id}/…` a
    group DM (the contract's "Group DMs"; over the WebSocket both are `conversation_id`).
    NotFound (404) when the id is not a conversation of the route's kind, so a DM is
    never reachable under /group-dms/ nor a group DM under /dms/. One primary-key read."""
    model = GroupDm if group else DmConversation
    try:
        exists = model.objects.filter(pk=conversation_id).exists()
    except (TypeError, ValueError, errors.DomainError):
        exists = False
    if not exists:
        raise errors.NotFound("Conversation not found.")


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
    """The DM conversations of `workspace_id` (None: of every workspace the user is an
    active member of, see channels_app.selectors.user_channel_ids) that `user_id` is
    one of the two users of."""
    conversations = DmConversation.objects.filter(_participant(user_id))
    groups = GroupDmMember.objects.filter(user_id=user_id)  # group DMs are addressed like DMs (issue 16)
    if workspace_id is not None:
        conversations = conversations.filter(workspace_id=workspace_id)
        groups = groups.filter(group_dm__workspace_id=workspace_id)
    else:
        active = WorkspaceMember.objects.filter(user_id=user_id, is_active=True).values("workspace_id")
        conversations = conversations.filter(workspace_id__in=active)
        groups = groups.filter(group_dm__workspace_id__in=active)
    ids = [str(cid) for cid in conversations.values_list("id", flat=True)]
    return ids + [str(gid) for gid in groups.values_list("group_dm_id", flat=True)]


def member_dm_ids_queries(*, user_id: UUID | str, workspace_id: UUID | str) -> tuple[QuerySet, QuerySet]:
    """`user_dm_ids` as two subqueries (the DMs' `id`, the group DMs' `group_dm_id`), for a
    filter that must stay one statement however many conversations the user has
    (files.selectors)."""
    return (
        DmConversation.objects.filter(_participant(user_id), workspace_id=workspace_id).values("id"),
        GroupDmMember.objects.filter(user_id=user_id, group_dm__workspace_id=workspace_id).values("group_dm_id"),
    )


def users_dm_ids(*, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """`user_dm_ids` of many (user id, workspace id) pairs at once: {pair: its DM and
    group DM conversation ids}, pairs without any left out; two statements whatever the
    number of pairs (the live sockets' audit, realtime.audit)."""
    wanted = set(pairs)
    users, workspaces = {u for u, _ in pairs}, {w for _, w in pairs}
    found: dict[tuple[str, str], set[str]] = {}
    if not pairs:
        return found
    rows = DmConversation.objects.filter(
        Q(user1_id__in=users) | Q(user2_id__in=users), workspace_id__in=workspaces
    ).values_list("id", "user1_id", "user2_id", "workspace_id")
    for cid, user1, user2, wid in rows:
        for user in {str(user1), str(user2)}:
            if (user, str(wid)) in wanted:
                found.setdefault((user, str(wid)), set()).add(str(cid))
    members = GroupDmMember.objects.filter(user_id__in=users, group_dm__workspace_id__in=workspaces).values_list(
        "group_dm_id", "user_id", "group_dm__workspace_id"
    )
    for gid, user, wid in members:
        if (str(user), str(wid)) in wanted:
            found.setdefault((str(user), str(wid)), set()).add(str(gid))
    return found


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
    found = {str(pk) for pk in DmConversation.objects.filter(pk__in=valid).values_list("pk", flat=True)}
    return found | {str(pk) for pk in GroupDm.objects.filter(pk__in=valid).values_list("pk", flat=True)}


def group_dm_ids_among(*, conversation_ids: list[str]) -> set[str]:
    """Which of these DM-kind conversation ids (canonical UUID strings) are group DMs
    (both live in the DM collection; clients address group DMs under /group-dms/)."""
    if not conversation_ids:
        return set()
    return {str(pk) for pk in GroupDm.objects.filter(pk__in=conversation_ids).values_list("pk", flat=True)}


def dm_misordered_pairs() -> list[MisorderedDm]:
    """Conversations whose pair is not stored smaller-first (user1_id >= user2_id).

    The CHECK constraint dm_conversations_ordered_pair makes this impossible while it
    exists; this is raw SQL so that it also finds such rows where the constraint was
    dropped or never applied (a restored dump, a hand-made migration)."""
    with connection.cursor() as cursor:
        cursor.execute(_MISORDERED_PAIRS_SQL)
        return [MisorderedDm(*row) for row in cursor.fetchall()]


# --- Group DMs (issue 16) ------------------------------------------------------------


def group_dm_member_key(user_ids) -> str:
    """The canonical key of a member set: the distinct ids, sorted as strings, joined by ","."""
    return ",".join(sorted({str(uid) for uid in user_ids}))


def _group_dms_of(user, workspace) -> QuerySet[GroupDm]:
    """The group DMs of `workspace` that `user` is a member of: the access rule (served
    by the (user, group_dm) index), with the members prefetched for the API shape."""
    workspace_id = getattr(workspace, "pk", workspace)
    mine = GroupDmMember.objects.filter(group_dm_id=OuterRef("pk"), user_id=user.pk)
    return GroupDm.objects.filter(Exists(mine), workspace_id=workspace_id)


def group_dm_get_for_member(*, user, workspace, conversation_id: UUID | str, with_members: bool = False) -> GroupDm:
    """The group DM of `workspace` if `user` is one of its members; 404 for anyone else."""
    group_dms = _group_dms_of(user, workspace)
    if with_members:
        group_dms = _with_members(group_dms, workspace)
    try:
        return group_dms.get(pk=conversation_id)
    except (GroupDm.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Conversation not found.") from exc


def _with_members(group_dms: QuerySet[GroupDm], workspace) -> QuerySet[GroupDm]:
    workspace_id = getattr(workspace, "pk", workspace)
    role = WorkspaceMember.objects.filter(workspace_id=workspace_id, user_id=OuterRef("user_id"))
    memberships = (
        GroupDmMember.objects.select_related("user")
        .annotate(
            user_workspace_role=Subquery(role.values("role")[:1]),
            user_workspace_is_active=Subquery(role.values("is_active")[:1]),
        )
        .order_by("user__username", "user_id")
    )
    return group_dms.prefetch_related(Prefetch("memberships", queryset=memberships))


def group_dm_list_for_member(*, user, workspace) -> QuerySet[GroupDm]:
    """The group DMs of `workspace` that `user` is in, members prefetched (one more query per page)."""
    return _with_members(_group_dms_of(user, workspace), workspace)


def group_dm_get_by_key(*, workspace, member_key: str) -> GroupDm:
    return _with_members(GroupDm.objects.filter(workspace_id=getattr(workspace, "pk", workspace)), workspace).get(
        member_key=member_key
    )


def group_dm_member_ids(*, conversation_id: UUID | str) -> list[str]:
    return [str(u) for u in GroupDmMember.objects.filter(group_dm_id=conversation_id).values_list("user_id", flat=True)]


# --- DMs and group DMs alike (both are `ConversationKind.DM`, messages in dm_messages) ---


def dm_member_ids(*, conversation_id: UUID | str) -> list[str]:
    """Who is in a DM (its two users) or a group DM (its members) now, as user id
    strings; [] for an unknown id. Notifications, read state and search use this one
    rule so a group DM is never a DM with two members missing (issue 16)."""
    pair = DmConversation.objects.filter(pk=conversation_id).values_list("user1_id", "user2_id").first()
    if pair is not None:
        return [str(uid) for uid in pair]
    return group_dm_member_ids(conversation_id=conversation_id)


def dm_workspace_ids(*, conversation_ids: list[str]) -> dict[str, str]:
    """{conversation id: workspace id} of the DMs and group DMs among `conversation_ids`
    (unknown ids are left out); two queries."""
    found = dict(DmConversation.objects.filter(pk__in=conversation_ids).values_list("pk", "workspace_id"))
    found |= dict(GroupDm.objects.filter(pk__in=conversation_ids).values_list("pk", "workspace_id"))
    return {str(pk): str(workspace_id) for pk, workspace_id in found.items()}
