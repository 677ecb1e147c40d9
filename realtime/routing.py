from django.urls import re_path

from realtime import consumers

websocket_urlpatterns = [
    re_path(r"^ws/v1/$", consumers.RealtimeConsumer.as_asgi()),
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),
]
