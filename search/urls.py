from django.urls import path

from search import apis

urlpatterns = [
    path("search/messages", apis.SearchMessagesApi.as_view(), name="search-messages"),
]
