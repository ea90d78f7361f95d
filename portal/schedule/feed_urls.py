"""The calendar feeds (token in the URL, no login): mounted at /calendar/."""

from django.urls import URLPattern, URLResolver, path

from portal.schedule import feed

urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:secret>/groups/<str:code>.ics", feed.calendar_group_feed, name="calendar-group-feed"),
    path("<str:secret>/<str:code>.ics", feed.calendar_feed, name="calendar-feed"),
]
