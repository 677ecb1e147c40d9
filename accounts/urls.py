from django.urls import path

from accounts import apis, workspace_apis

urlpatterns = [
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-all", apis.LogoutAllApi.as_view(), name="auth-logout-all"),
    path("auth/sessions", apis.SessionListApi.as_view(), name="auth-sessions"),
    path("auth/sessions/<str:session_id>", apis.SessionDetailApi.as_view(), name="auth-session-detail"),
    path("users", apis.UserListApi.as_view(), name="user-list"),
    path("users/me", apis.MeApi.as_view(), name="user-me"),
    path("users/<uuid:user_id>", apis.UserDetailApi.as_view(), name="user-detail"),
    path("users/<uuid:user_id>/deactivate", apis.UserDeactivateApi.as_view(), name="user-deactivate"),
    path("users/<uuid:user_id>/reactivate", apis.UserReactivateApi.as_view(), name="user-reactivate"),
    path("auth/switch", workspace_apis.SwitchApi.as_view(), name="auth-switch"),
    path("workspaces", workspace_apis.WorkspaceListApi.as_view(), name="workspace-list"),
    path("workspace", workspace_apis.WorkspaceCurrentApi.as_view(), name="workspace-current"),
    path("workspace/invites", workspace_apis.InviteListApi.as_view(), name="workspace-invites"),
    path("workspace/invites/<str:code>", workspace_apis.InviteDetailApi.as_view(), name="workspace-invite-detail"),
]
