"""Single sign-on URLs under /accounts/sso/ (the callback URL is registered at the provider)."""

from django.urls import URLPattern, URLResolver, path

from accounts.sso import views

app_name = "sso"

urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", views.SsoLoginView.as_view(), name="login"),
    path("callback/", views.SsoCallbackView.as_view(), name="callback"),
    path("reauth/", views.reauth, name="reauth"),
    path("mappings/", views.mappings, name="mappings"),
    path("mappings/<int:pk>/delete/", views.mapping_delete, name="mapping-delete"),
]
