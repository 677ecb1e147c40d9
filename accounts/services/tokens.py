"""Login tokens (knox) and the sessions they belong to: minting a token bound to one
workspace membership, revoking one, all, or one session (docs/workspaces.md)."""

from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from accounts import selectors
from accounts.models import AuthSession, TokenWorkspace, User, Workspace, WorkspaceMember
from accounts.selectors import session_get_for_user
from realtime import broadcast
from slackclone import errors


class InvalidCredentials(errors.DomainError):
    status = 401
    code = "invalid_credentials"
    default_message = "Invalid credentials."


DEVICE_NAME_MAX_LENGTH = 128


def device_name_from(*, device_name: str | None, user_agent: str | None) -> str:
    """The name a session is listed under: the client's `device_name`, else its
    User-Agent, trimmed to DEVICE_NAME_MAX_LENGTH characters ("" when neither is given)."""
    name = (device_name or "").strip() or (user_agent or "").strip()
    return name[:DEVICE_NAME_MAX_LENGTH]


def token_create(*, user: User, membership: WorkspaceMember, device_name: str = "") -> str:
    """A new API token for `user` acting in `membership`'s workspace (one per device and
    workspace; knox stores only its digest, TokenWorkspace binds it) and its session
    (device name, last used). It expires TOKEN_TTL after its last use.

    The user's tokens that have expired are deleted here (with their sessions and
    bindings): knox deletes them on every authentication, which `accounts.auth` does
    not use (one query per request), so a login is where they go; a token presented
    after its expiry is deleted then (accounts.auth).

    The membership and its account are locked and must still be active (else 401
    `invalid_credentials`): a deactivation (of the membership or, by staff, of the
    account) locks the same rows before it deletes the tokens, so a login or switch
    racing it either mints its token first (and the deactivation deletes it) or finds
    the deactivation done. Without that, a token minted between the caller's check and
    the deletion would have come back to life on reactivation ("reactivating does not
    revive their old tokens")."""
    with transaction.atomic():
        still_active = WorkspaceMember.objects.select_for_update(no_key=True).filter(
            pk=membership.pk, is_active=True, user__is_active=True
        )
        if not list(still_active.values_list("pk", flat=True)):
            raise InvalidCredentials()
        AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
        instance, token = AuthToken.objects.create(user)
        TokenWorkspace.objects.create(token=instance, member=membership)
        AuthSession.objects.create(token=instance, device_name=device_name[:DEVICE_NAME_MAX_LENGTH])
    return token


def token_revoke(*, token: AuthToken, workspace: Workspace) -> None:
    """Revoke exactly this token, closing the WebSockets opened with it; the user's
    other tokens (and their sockets) keep working."""
    user_id, digest, workspace_id = str(token.user_id), token.digest, str(workspace.pk)
    with transaction.atomic():
        token.delete()
        transaction.on_commit(
            lambda: broadcast.sessions_close(user_id=user_id, workspace_ids=[workspace_id], token_digest=digest)
        )


def token_revoke_all(*, user: User) -> int:
    """Revoke every token of `user` in EVERY workspace (log out everywhere: the person's
    every session, not only those of the caller's workspace), closing all their
    WebSockets (4401). Returns how many tokens were revoked."""
    user_id = str(user.pk)
    workspace_ids = selectors.workspace_ids_of_user(user_id=user.pk)
    with transaction.atomic():
        revoked = AuthToken.objects.filter(user_id=user.pk).delete()[1].get(AuthToken._meta.label, 0)
        transaction.on_commit(lambda: broadcast.sessions_close(user_id=user_id, workspace_ids=workspace_ids))
    return revoked


def session_revoke(*, user: User, session_id: str) -> None:
    """Revoke one of the caller's sessions (GET /auth/sessions ids): its token stops
    working and the sockets opened with it close. Another user's session, an expired
    one or an unknown id: 404 `session_not_found` (errors.NotFound)."""
    session = session_get_for_user(user=user, session_id=session_id)
    binding = getattr(session.token, "workspace_binding", None)
    workspace = binding.member.workspace if binding is not None else selectors.workspace_or_default(None)
    token_revoke(token=session.token, workspace=workspace)


def tokens_delete(tokens) -> int:
    """Delete these knox tokens (their workspace bindings go with them); how many tokens."""
    _total, per_model = tokens.delete()
    return per_model.get(AuthToken._meta.label, 0)
