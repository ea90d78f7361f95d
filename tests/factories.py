"""factory-boy factories for Meridian's models."""

from __future__ import annotations

from datetime import UTC, datetime

import factory
from factory.django import DjangoModelFactory

from accounts.models import Membership, Role, User
from content.models import ContentItem, ItemTag, Position, Tag
from markets.models import Market, Rule


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class MarketFactory(DjangoModelFactory):
    class Meta:
        model = Market
        django_get_or_create = ("code",)

    code = "AU"
    name = factory.LazyAttribute(lambda o: f"Market {o.code}")
    languages = factory.LazyFunction(lambda: ["en"])
    timezone = "UTC"


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR
    market = None


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tag-{n}")
    label = factory.LazyAttribute(lambda o: o.slug.title())


class ContentItemFactory(DjangoModelFactory):
    class Meta:
        model = ContentItem
        skip_postgeneration_save = True

    upstream_id = factory.Sequence(lambda n: f"c-{n:06d}")
    content_type = "article"
    title = factory.Sequence(lambda n: f"Story number {n}")
    source = "natgeo-editorial"
    language = "en"
    published_at = factory.Sequence(lambda n: datetime(2026, 1, 1, tzinfo=UTC).replace(minute=n % 60))

    @factory.post_generation
    def tag_slugs(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if not create or not extracted:
            return
        self.upstream_tags = list(extracted)
        self.save(update_fields=["upstream_tags"])
        for slug in extracted:
            ItemTag.objects.get_or_create(item=self, tag=TagFactory(slug=slug))


class RuleFactory(DjangoModelFactory):
    class Meta:
        model = Rule

    market = factory.SubFactory(MarketFactory)
    action = "hide"
    match_tags = factory.LazyFunction(lambda: ["hunting"])


class PositionFactory(DjangoModelFactory):
    class Meta:
        model = Position

    market = factory.SubFactory(MarketFactory)
    item = factory.SubFactory(ContentItemFactory)
    state = "hidden"
