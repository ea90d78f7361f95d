"""Market pages: list, new market, (de)activation, overview, settings, rules, pinned slots and preview."""

from django.urls import URLPattern, URLResolver, path

from markets import views

app_name = "markets"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.market_index, name="list"),
    # Before "<str:code>/": "new" is no market code (codes are upper case and validated).
    path("new/", views.market_new, name="new"),
    path("<str:code>/", views.market_detail, name="detail"),
    path("<str:code>/deactivate/", views.market_status, {"change": "deactivate"}, name="deactivate"),
    path("<str:code>/activate/", views.market_status, {"change": "activate"}, name="activate"),
    path("<str:code>/settings/", views.market_settings, name="settings"),
    path("<str:code>/rules/new/", views.rule_new, name="rule_create"),
    path("<str:code>/rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("<str:code>/rules/<int:rule_id>/delete/", views.rule_remove, name="rule_delete"),
    path("<str:code>/pins/<int:position_id>/move/", views.pin_move, name="pin_move"),
    path("<str:code>/preview/", views.preview, name="preview"),
]
