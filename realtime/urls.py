from django.urls import path

from realtime import apis

urlpatterns = [
    path("realtime/ticket", apis.RealtimeTicketApi.as_view(), name="realtime-ticket"),
]
