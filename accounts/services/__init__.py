"""Writes for accounts, split by action as Zulip's `zerver/actions/` is:

- `accounts.services.users`: registration, login, switching workspace, profile
  updates, deactivation of an account;
- `accounts.services.tokens`: login tokens and their sessions;
- `accounts.services.workspaces`: workspaces, invitations, members' roles and
  deactivation.

Callers import from `accounts.services` (this module re-exports the public API).
See docs/workspaces.md."""

from accounts.services.tokens import (
    DEVICE_NAME_MAX_LENGTH,
    device_name_from,
    session_revoke,
    token_create,
    token_revoke,
    token_revoke_all,
    tokens_delete,
)
from accounts.services.users import (
    InvalidCredentials,
    auth_switch,
    invite_redeem,
    member_join_legacy,
    user_deactivate,
    user_login,
    user_register,
    user_update,
)
from accounts.services.workspaces import (
    INVITE_DEFAULT_HOURS,
    invite_create,
    invite_revoke,
    member_deactivate,
    member_reactivate,
    member_role_set,
    workspace_create,
    workspace_update,
)

__all__ = [
    "DEVICE_NAME_MAX_LENGTH",
    "INVITE_DEFAULT_HOURS",
    "InvalidCredentials",
    "auth_switch",
    "device_name_from",
    "invite_create",
    "invite_redeem",
    "invite_revoke",
    "member_deactivate",
    "member_join_legacy",
    "member_reactivate",
    "member_role_set",
    "session_revoke",
    "token_create",
    "token_revoke",
    "token_revoke_all",
    "tokens_delete",
    "user_deactivate",
    "user_login",
    "user_register",
    "user_update",
    "workspace_create",
    "workspace_update",
]
