"""ASGI entry point: HTTP goes to Django, WebSockets to the realtime consumer.

Served by `python -m slackclone.serve` (uvicorn, with its options)."""

import os

from slackclone.admission import send_admission
from slackclone.handlers import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")
django_asgi_app = send_admission(get_asgi_application())

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.auth import TokenAuthMiddleware  # noqa: E402
from realtime.origin import browser_origin_validator  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from slackclone.gc_startup import tune_for_serving  # noqa: E402
from slackclone.http_limits import RequestLimitsMiddleware  # noqa: E402
from slackclone.malloc_tuning import large_blocks_to_the_os  # noqa: E402
from slackclone.request_id import websocket_request_id  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestLimitsMiddleware(django_asgi_app),
        "websocket": websocket_request_id(
            browser_origin_validator(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)

large_blocks_to_the_os()  # freed images give their memory back (slackclone.malloc_tuning)
tune_for_serving()  # last: full GC passes skip everything loaded above (slackclone.gc_startup)
