"""Which WebSocket handshakes may proceed, by their Origin header."""

from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator


class BrowserOriginValidator(OriginValidator):
    """Refuse a page from a foreign origin; let non-browser clients in.

    Browsers always send Origin on a WebSocket handshake, so a handshake without one
    comes from a native or server-side client, which cross-site request forgery does
    not concern (it must present a token anyway). A present Origin must match
    ALLOWED_HOSTS, exactly as Channels' AllowedHostsOriginValidator checks it.
    """

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or super().valid_origin(parsed_origin)


def browser_origin_validator(application) -> BrowserOriginValidator:
    allowed = AllowedHostsOriginValidator(application).allowed_origins  # ALLOWED_HOSTS, DEBUG defaults
    return BrowserOriginValidator(application, allowed)
