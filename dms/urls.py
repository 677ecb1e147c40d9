from django.urls import path

from dms import apis

urlpatterns = [
    path("dms", apis.DmListApi.as_view(), name="dm-list"),
    path("dms/<uuid:conversation_id>", apis.DmDetailApi.as_view(), name="dm-detail"),
    path("group-dms", apis.GroupDmListApi.as_view(), name="group-dm-list"),
    path("group-dms/<uuid:conversation_id>", apis.GroupDmDetailApi.as_view(), name="group-dm-detail"),
]
