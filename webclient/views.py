"""GET /app/: the web client's one page (docs/web-client.md).

The page is static HTML that loads ES modules from the static files; everything it
shows comes from the public REST API and WebSocket contract (/work/shared/API.md),
called from the browser with the user's token. The server adds nothing private.
"""

from csp.constants import NONE, SELF
from csp.decorators import csp
from django.shortcuts import render
from django.views.decorators.http import require_safe

# Only this server's own files, no inline script or style, no plugins, no framing.
# `connect-src 'self'` covers the WebSocket too: CSP Level 3 lets 'self' match ws: and
# wss: on the page's host and port. Images: this server's files and the object URLs of
# file thumbnails the client fetched with its token (and of drag-and-drop previews).
# Trusted Types with no policy at all: the page may not assign a string to any HTML
# sink (innerHTML, outerHTML, insertAdjacentHTML, document.write), so text from users
# can only reach the DOM as text nodes.
WEB_CLIENT_CSP = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "blob:"],
    "connect-src": [SELF],
    "object-src": [NONE],
    "base-uri": [NONE],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
    "require-trusted-types-for": ["'script'"],
    "trusted-types": [NONE],
}


@require_safe
@csp(WEB_CLIENT_CSP)
def app(request, path=""):
    """The client shell for /app/ and any path under it (the client routes by hash)."""
    response = render(request, "webclient/app.html")
    response["Cache-Control"] = "no-cache"
    response["Referrer-Policy"] = "same-origin"
    return response
