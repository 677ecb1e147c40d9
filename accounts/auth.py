"""Token authentication: knox's, plus the last use of the token's session.

Every REST request and WebSocket handshake goes through `SessionTokenAuthentication`.
With a TOKEN_TTL, knox's AUTO_REFRESH slides the token's expiry on each use but writes
it at most once per MIN_REFRESH_INTERVAL (60 s); `last_used_at` of the token's
AuthSession is written at the same moments, so it costs no extra write per request and
is exact to about a minute.
"""

from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.settings import knox_settings
from rest_framework import exceptions

from accounts.models import AuthSession


class SessionTokenAuthentication(TokenAuthentication):
    def renew_token(self, auth_token) -> None:
        """Slide the expiry (knox) and record the use, unless both were written less than
        MIN_REFRESH_INTERVAL ago. A token revoked while this request authenticates
        (logout, a session revoke, a deactivation in another request) answers 401, not
        500: knox's save then updates no row, and the session insert breaks its key."""
        before = auth_token.expiry
        try:
            super().renew_token(auth_token)
            if (auth_token.expiry - before).total_seconds() > knox_settings.MIN_REFRESH_INTERVAL:
                AuthSession.objects.update_or_create(token=auth_token, defaults={"last_used_at": timezone.now()})
        except (OperationalError, InterfaceError):
            raise  # a store is down: 503 (slackclone.api.exceptions)
        except (IntegrityError, DatabaseError) as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
