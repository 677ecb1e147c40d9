"""manage.py create_workspace: a new workspace and its owner (an operator's tool)."""

from django.core.management.base import BaseCommand, CommandError

from accounts import selectors, services
from accounts.models import Workspace
from accounts.serializers import _SLUG_RE
from slackclone import errors


class Command(BaseCommand):
    help = (
        "Create a workspace owned by an existing account (by username or email), whatever WORKSPACE_CREATION "
        "says: this is the operator's way. New workspaces are invite-only unless --open. Prints its id and an "
        "invite code (with --invite) to hand out. Example: manage.py create_workspace acme --name 'Acme' "
        "--owner alice --invite"
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="2-40 characters of [a-z0-9-], unique.")
        parser.add_argument("--name", help="Display name (default: the slug).")
        parser.add_argument("--owner", required=True, help="Username or email of the owner's account.")
        parser.add_argument("--open", action="store_true", help="Anyone may register into it (joining: open).")
        parser.add_argument("--invite", action="store_true", help="Also create an invite code (168 hours, unlimited).")

    def handle(self, *args, slug, name, owner, open, invite, **options):
        if not _SLUG_RE.fullmatch(slug):
            raise CommandError("The slug must be 2-40 characters of lower-case letters, digits or '-'.")
        user = selectors.user_by_login(email=owner) if "@" in owner else selectors.user_by_login(username=owner)
        if user is None or not user.is_active:
            raise CommandError(f"No active account {owner!r}.")
        try:
            workspace, _owner, _token = services.workspace_create(
                slug=slug, name=name or slug, by=user, operator=True, with_token=False
            )
            if open:
                membership = selectors.membership_of(user=user, workspace_slug=slug)
                workspace = services.workspace_update(membership=membership, joining=Workspace.Joining.OPEN)
        except errors.DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Created workspace {workspace.slug} ({workspace.pk}), owner {user}."))
        if invite:
            membership = selectors.membership_of(user=user, workspace_slug=slug)
            code = services.invite_create(membership=membership, max_uses=None).code
            self.stdout.write(f"Invite code: {code}")
