"""Load Meridian's demo data (idempotent): markets, users, ~5,000 content items, rules, positions.

Never part of production settings: this command refuses to run when DEBUG is off and the
environment is production.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import membership_grant
from content.models import ContentItem, Position
from content.services import (
    ContentRights,
    ContentRow,
    PositionChange,
    content_upsert_bulk,
    group_positions_bulk_set,
    position_set,
    positions_bulk_set,
)
from markets.groups.services import group_create, group_rule_create
from markets.models import Market, MarketGroup, Rule, Visibility
from markets.services import market_create, rule_create, rule_update

DEMO_PASSWORD = "meridian-demo"
OCEAN_WEEK = "Ocean Week campaign"

MARKETS: list[tuple[str, str, list[str], str]] = [
    ("AU", "Australia", ["en"], "Australia/Sydney"),
    ("US", "United States", ["en", "es"], "America/New_York"),
    ("GB", "United Kingdom", ["en"], "Europe/London"),
    ("DE", "Germany", ["de"], "Europe/Berlin"),
    ("AT", "Austria", ["de"], "Europe/Vienna"),
    ("CH", "Switzerland", ["de", "fr", "it"], "Europe/Zurich"),
    ("FR", "France", ["fr"], "Europe/Paris"),
    ("ES", "Spain", ["es"], "Europe/Madrid"),
    ("IT", "Italy", ["it"], "Europe/Rome"),
    ("NL", "Netherlands", ["nl"], "Europe/Amsterdam"),
    ("SE", "Sweden", ["sv"], "Europe/Stockholm"),
    ("NO", "Norway", ["nb"], "Europe/Oslo"),
    ("PL", "Poland", ["pl"], "Europe/Warsaw"),
    ("IN", "India", ["en", "hi"], "Asia/Kolkata"),
    ("JP", "Japan", ["ja"], "Asia/Tokyo"),
    ("KR", "South Korea", ["ko"], "Asia/Seoul"),
    ("SG", "Singapore", ["en", "zh"], "Asia/Singapore"),
    ("ID", "Indonesia", ["id"], "Asia/Jakarta"),
    ("BR", "Brazil", ["pt-BR"], "America/Sao_Paulo"),
    ("MX", "Mexico", ["es-MX"], "America/Mexico_City"),
    ("AR", "Argentina", ["es"], "America/Argentina/Buenos_Aires"),
    ("CA", "Canada", ["en", "fr"], "America/Toronto"),
    ("ZA", "South Africa", ["en", "af", "zu"], "Africa/Johannesburg"),
    ("NG", "Nigeria", ["en"], "Africa/Lagos"),
    ("KE", "Kenya", ["en", "sw"], "Africa/Nairobi"),
    ("EG", "Egypt", ["ar"], "Africa/Cairo"),
    ("AE", "United Arab Emirates", ["ar", "en"], "Asia/Dubai"),
    ("TR", "Turkey", ["tr"], "Europe/Istanbul"),
    ("NZ", "New Zealand", ["en", "mi"], "Pacific/Auckland"),
    ("IE", "Ireland", ["en", "ga"], "Europe/Dublin"),
]
PARTNER_EDITIONS = [("AU-OPTUS", "Optus (Australia) partner edition", ["en"], "Australia/Sydney")]

TOPICS: dict[str, list[str]] = {
    "wildlife": ["Lions of the {place}", "The secret life of {animal}s", "{animal}s in the {place}"],
    "ocean": ["Into the deep: {place}", "Coral {place}", "The great {animal} migration"],
    "space": ["Mission to {planet}", "Lights over {place}", "The rings of {planet}"],
    "history": ["{year}: the year that changed {place}", "Lost cities of the {place}", "Empires of {place}"],
    "travel": ["48 hours in {place}", "Slow train across {place}", "The road to {place}"],
    "hunting": ["The last hunters of {place}", "Tracking {animal}s in {place}", "Hunting season in {place}"],
    "photography": [
        "{place} through the lens",
        "Picture of the year: {animal}",
        "Light and shadow in {place}",
    ],
    "science": ["Why {animal}s dream", "The physics of {planet}", "Inside the lab at {place}"],
    "climate": ["Melting {place}", "The {place} drought", "Saving the {animal}"],
    "polar": ["Glaciers of {place}", "Ice walkers of {place}", "Polar {animal}s"],
}
PLACES = [
    "Serengeti",
    "Arctic",
    "Kalahari",
    "Great Barrier Reef",
    "Amazon",
    "Himalaya",
    "Sahara",
    "Patagonia",
    "Borneo",
    "Yellowstone",
    "Antarctica",
    "Okavango",
    "Galápagos",
    "Mekong",
    "Alps",
    "Outback",
    "Iceland",
    "Kamchatka",
    "Madagascar",
    "Svalbard",
]
ANIMALS = [
    "lion",
    "whale",
    "octopus",
    "snow leopard",
    "elephant",
    "orca",
    "penguin",
    "wolf",
    "shark",
    "eagle",
    "bear",
    "turtle",
    "cheetah",
    "gorilla",
    "manta ray",
]
PLANETS = ["Mars", "Jupiter", "Saturn", "Venus", "Europa", "Titan"]
SOURCES = [
    "natgeo-editorial",
    "natgeo-tv",
    "nat-geo-wild",
    "partner-bbc",
    "partner-abc",
    "archive",
    "kids",
    "photo-desk",
]
TYPES = ["article", "article", "article", "video", "video", "clip", "gallery", "image"]
LANGUAGES = ["en", "en", "en", "de", "fr", "es", "ja", "pt-BR", "it"]
ITEM_COUNT = 5000


def _title(rng: random.Random, topic: str) -> str:
    template = rng.choice(TOPICS[topic])
    title = template.format(
        place=rng.choice(PLACES),
        animal=rng.choice(ANIMALS),
        planet=rng.choice(PLANETS),
        year=rng.randint(1888, 2025),
    )
    return title[0].upper() + title[1:]


def _published_at(rng: random.Random, now: datetime) -> datetime:
    # Most content is recent; the archive reaches back to 1888.
    if rng.random() < 0.8:
        return now - timedelta(days=rng.uniform(0, 365 * 3), minutes=rng.randint(0, 1440))
    start = datetime(1888, 1, 1, tzinfo=UTC)
    return start + (now - start) * rng.random()


def content_rows(count: int = ITEM_COUNT, seed: int = 1888) -> list[ContentRow]:
    """Return deterministic, plausible content rows (the same on every run)."""
    rng = random.Random(seed)
    # A fixed "now" keeps the rows identical between runs, so re-running changes nothing.
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    topics = list(TOPICS)
    for n in range(count):
        topic = rng.choice(topics)
        extra = rng.sample([t for t in topics if t != topic], k=rng.randint(0, 2))
        content_type = rng.choice(TYPES)
        title = _title(rng, topic)
        rows.append(
            ContentRow(
                upstream_id=f"ng-{100000 + n}",
                content_type=content_type,
                title=title,
                summary=f"A {content_type} about {topic}: {title.lower()}.",
                url=f"https://media.example.com/{content_type}s/ng-{100000 + n}",
                source=rng.choice(SOURCES),
                language=rng.choice(LANGUAGES),
                published_at=_published_at(rng, now),
                premium=rng.random() < 0.1,
                tags=tuple([topic, *extra]),
            )
        )
    return rows


# Items whose upstream licensing restricts them: the resolver hides them first (step 0).
NOT_IN_FR_ID = "ng-rights-fr"
FROM_2027_ID = "ng-rights-2027"
# A hunting item an editor shows in DE, which DE's binding youth-protection rule still hides.
SHOWN_IN_DE_ID = "ng-hunting-de"


def rights_rows() -> list[ContentRow]:
    """Return the demo items that carry rights (and the hunting item of the binding-rule demo)."""
    published = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    return [
        ContentRow(
            upstream_id=NOT_IN_FR_ID,
            content_type="video",
            title="Glaciers of the Alps: a documentary",
            summary="A feature documentary licensed everywhere except France.",
            url=f"https://media.example.com/videos/{NOT_IN_FR_ID}",
            source="natgeo-tv",
            language="en",
            published_at=published,
            tags=("polar", "climate", "documentary"),
            rights=ContentRights(deny=("FR",)),
        ),
        ContentRow(
            upstream_id=FROM_2027_ID,
            content_type="video",
            title="Ocean Week 2027: the first look",
            summary="Embargoed until the new year: available from 2027-01-01.",
            url=f"https://media.example.com/videos/{FROM_2027_ID}",
            source="natgeo-tv",
            language="en",
            published_at=published,
            tags=("ocean",),
            rights=ContentRights(starts_at=datetime(2027, 1, 1, tzinfo=UTC)),
        ),
        ContentRow(
            upstream_id=SHOWN_IN_DE_ID,
            content_type="article",
            title="Hunting season in the Alps",
            summary="Youth-protection review pending in Germany.",
            url=f"https://media.example.com/articles/{SHOWN_IN_DE_ID}",
            source="natgeo-editorial",
            language="de",
            published_at=published,
            tags=("hunting", "travel"),
        ),
    ]


class Command(BaseCommand):
    help = "Load demo markets, users, content, rules and positions (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--items", type=int, default=ITEM_COUNT, help="How many content items.")
        parser.add_argument("--force", action="store_true", help="Re-check everything even if loaded.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.MERIDIAN_ENVIRONMENT == "production":
            raise CommandError("Demo data is never loaded in production.")
        items = options["items"]
        if not options["force"] and self._already_loaded(items):
            self.stdout.write("Demo data already loaded (use --force to re-check).")
            self._traffic()
            return
        markets = self._markets()
        self._users(markets)
        self._content(items)
        self._rules_and_positions(markets)
        self._groups(markets)
        self._rights_and_binding(markets)
        self._change_requests(markets)
        self._upcoming_windows(markets)
        self._group_and_rights_windows(markets)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {Market.objects.count()} markets, {ContentItem.objects.count()} items, "
                f"{Rule.objects.count()} rules, {Position.objects.count()} positions."
            )
        )
        from content.labels.demo import load_label_demo

        self.stdout.write(self.style.SUCCESS(f"Demo images (fake labeller): {load_label_demo()}."))
        from accounts.partners.demo import load_partner_demo

        load_partner_demo(write=self.stdout.write)
        from accounts.partners.demo import load_usage_demo

        if load_usage_demo():
            self.stdout.write("Demo partner usage: Optus has used 82 % of this month's quota.")
        self._traffic()
        self._notification_preferences()
        # The bell has something to show: the demo partner's quota alert and the label queue.
        from portal.notifications.services import notifications_detect

        self.stdout.write(f"Notifications raised: {len(notifications_detect(dispatch_delivery=False))}.")

    def _notification_preferences(self) -> None:
        """Demo addresses, Priya's email for the label backlog and Mia's opt-in to her windows'
        reminders (with `make run`'s console backend the emails appear in the server's output)."""
        from portal.notifications.models import Preference
        from portal.notifications.services import preferences_set

        for user in User.objects.filter(email="", username__in=["admin", "editor", "reviewer"]):
            user.email = f"{user.username}@meridian.example"
            user.save(update_fields=["email"])
        wanted = {"reviewer": ("label_queue", "email"), "editor": ("my_window", "inbox")}
        for user in User.objects.filter(username__in=wanted):
            kind, channel = wanted[user.username]
            if not Preference.objects.filter(user=user, kind=kind, channel=channel).exists():
                preferences_set(user=user, choices={(kind, channel): True})

    def _groups(self, markets: dict[str, Market]) -> None:
        _load_groups(markets, self.stdout.write)

    def _change_requests(self, markets: dict[str, Market]) -> None:
        """AU-OPTUS and DE rules need one approval (AU-OPTUS positions too), and Ana's launch pins
        for next Monday 06:00 Sydney time wait for Sam's review."""
        from zoneinfo import ZoneInfo

        from portal.change_requests.models import ChangeRequest
        from portal.change_requests.services import Operation, policy_set, request_create

        sam = User.objects.get(username="admin")
        policy_set(
            actor=sam,
            market=markets["AU-OPTUS"],
            approvals_required=1,
            rules=True,
            positions=True,
            via="command",
        )
        policy_set(actor=sam, market=markets["DE"], approvals_required=1, rules=True, via="command")
        self._group_change_request(sam)
        if ChangeRequest.objects.filter(market__isnull=False).exists():
            return
        ana = User.objects.get(username="au-manager")
        optus = markets["AU-OPTUS"]
        sydney = datetime.now(ZoneInfo(optus.timezone))
        monday = (sydney + timedelta(days=(7 - sydney.weekday()) % 7 or 7)).replace(
            hour=6, minute=0, second=0, microsecond=0
        )
        shown = set(Position.objects.filter(market=optus).values_list("item_id", flat=True))
        picks = [i for i in ContentItem.objects.order_by("-published_at")[:40] if i.pk not in shown][:2]
        if len(picks) < 2:
            return
        request_create(
            actor=ana,
            market=optus,
            title="AU-OPTUS launch pins",
            description="The premium series in slots 2 and 3 for launch week, under the documentary.",
            apply_at=monday,
            operations=[
                Operation.position(
                    item,
                    PositionChange(
                        state="pinned",
                        slot=slot,
                        starts_at=monday,
                        ends_at=monday + timedelta(days=7),
                        reason="Launch week",
                    ),
                )
                # Slot 1 holds the exclusive documentary already (pinned without an end).
                for slot, item in ((2, picks[0]), (3, picks[1]))
            ],
            submit=True,
            via="command",
        )
        self.stdout.write(
            f"Demo change request: AU-OPTUS launch pins for {monday:%a %d %b %H:%M} waits for Sam."
        )

    def _group_change_request(self, sam: User) -> None:
        """DACH's rules need one approval (its own policy, as DE's), and Lukas's request to keep
        hunting out of DACH feeds waits for Sam's review."""
        from portal.change_requests.models import ChangeRequest
        from portal.change_requests.services import Operation, group_policy_set, request_create

        dach = MarketGroup.objects.filter(code="DACH").first()
        lukas = User.objects.filter(username="de-manager").first()
        if dach is None or lukas is None:
            return
        group_policy_set(actor=sam, group=dach, approvals_required=1, rules=True, via="command")
        if ChangeRequest.objects.filter(group__isnull=False).exists():
            return
        request_create(
            actor=lukas,
            group=dach,
            title="Hunting out of DACH feeds",
            description="As in APAC: hunting stays out of the German-speaking markets.",
            operations=[Operation.rule_create(action="hide", match_tags=["hunting"], note="Editorial line")],
            submit=True,
            via="command",
        )
        self.stdout.write("Demo group change request: a DACH hide rule waits for Sam.")

    def _traffic(self) -> None:
        """Keep a recent day of demo partner traffic (replaced, never added, when loaded again)."""
        from datetime import timedelta

        from accounts.partners.demo import load_traffic_demo

        written = load_traffic_demo(hours=24, fresh_for=timedelta(hours=1))
        if written:
            self.stdout.write(f"Demo partner traffic: {written} key-minutes over the last 24 hours.")

    def _already_loaded(self, items: int) -> bool:
        """Whether every part of the demo is there, so `make run` starts at once the second time."""
        from accounts.partners.models import Partner
        from content.labels.models import ImageAsset

        return (
            Market.objects.filter(code="AU-OPTUS").exists()
            and ContentItem.objects.count() >= items
            and User.objects.filter(username="reviewer").exists()
            and ImageAsset.objects.exists()
            and Partner.objects.exists()
            and ContentItem.objects.filter(upstream_id=NOT_IN_FR_ID).exists()
            and MarketGroup.objects.exists()
        )

    def _markets(self) -> dict[str, Market]:
        existing = {m.code: m for m in Market.objects.all()}
        for code, name, languages, tz in MARKETS + PARTNER_EDITIONS:
            if code not in existing:
                existing[code] = market_create(
                    actor=None,
                    code=code,
                    name=name,
                    languages=languages,
                    timezone=tz,
                    default_visibility=Visibility.OPT_IN if "-" in code else Visibility.VISIBLE,
                    via="command",
                )
        return existing

    def _users(self, markets: dict[str, Market]) -> None:
        people: list[tuple[str, str, str, list[tuple[Role, str | None]]]] = [
            ("admin", "Sam", "Admin", [(Role.ADMIN, None)]),
            ("editor", "Mia", "Editor", [(Role.EDITOR, None)]),
            (
                "au-manager",
                "Ana",
                "Manager",
                [(Role.MARKET_MANAGER, "AU"), (Role.MARKET_MANAGER, "AU-OPTUS")],
            ),
            ("de-manager", "Lukas", "Manager", [(Role.MARKET_MANAGER, "DE"), (Role.MARKET_MANAGER, "AT")]),
            ("reviewer", "Priya", "Reviewer", [(Role.REVIEWER, None)]),
        ]
        for username, first, last, roles in people:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = username == "admin"
                user.is_superuser = username == "admin"
                user.save()
            for role, code in roles:
                membership_grant(actor=None, user=user, role=role, market=markets[code] if code else None)

    def _content(self, count: int) -> None:
        rows = content_rows(count)
        for start in range(0, len(rows), 1000):
            content_upsert_bulk(actor=None, rows=rows[start : start + 1000], via="command")

    @transaction.atomic
    def _rights_and_binding(self, markets: dict[str, Market]) -> None:
        """Items with rights, DE's youth-protection rule binding, and an editor's "show" in DE
        that the binding rule overrides (the item page explains why)."""
        content_upsert_bulk(actor=None, rows=rights_rows(), via="command")
        de = markets["DE"]
        youth = next(
            (
                r
                for r in Rule.objects.filter(market=de, action="hide").order_by("id")
                if "hunting" in r.match_tags
            ),
            None,
        )
        if youth is not None and not youth.binding:
            rule_update(actor=None, rule=youth, binding=True, via="command")
        shown = ContentItem.objects.get(upstream_id=SHOWN_IN_DE_ID)
        if not Position.objects.filter(market=de, item=shown).exists():
            position_set(
                actor=None,
                market=de,
                item=shown,
                change=PositionChange(state="shown", reason="Alps week"),
                via="command",
            )

    @transaction.atomic
    def _rules_and_positions(self, markets: dict[str, Market]) -> None:
        de = markets["DE"]
        if not de.rules.exists():
            rule_create(
                actor=None,
                market=de,
                action="hide",
                match_tags=["hunting"],
                note="German youth-protection review",
                binding=True,
                via="command",
            )
        at = markets["AT"]
        if not at.rules.exists():
            rule_create(
                actor=None,
                market=at,
                action="hide",
                match_tags=["hunting"],
                match_content_types=["video"],
                note="Hunting videos stay out of AT",
                via="command",
            )
        au = markets["AU"]
        now = timezone.now()
        if not au.rules.exists():
            rule_create(
                actor=None,
                market=au,
                action="promote",
                match_tags=["ocean"],
                boost=2,
                starts_at=now - timedelta(days=1),
                ends_at=now + timedelta(days=30),
                note="Ocean month",
                via="command",
            )
        optus = markets["AU-OPTUS"]
        if not optus.rules.exists():
            rule_create(
                actor=None,
                market=optus,
                action="promote",
                match_tags=["wildlife"],
                match_sources=["nat-geo-wild"],
                boost=1,
                note="Premium wildlife series",
                via="command",
            )
        recent = list(ContentItem.objects.order_by("-published_at")[:12])
        if len(recent) < 12 or Position.objects.exists():
            return
        position_set(
            actor=None,
            market=au,
            item=recent[0],
            change=PositionChange(state="pinned", slot=1, reason="Launch week"),
            via="command",
        )
        position_set(
            actor=None,
            market=au,
            item=recent[1],
            change=PositionChange(state="hidden", reason="Legal note", ends_at=now + timedelta(days=7)),
            via="command",
        )
        for item in recent[2:6]:
            position_set(
                actor=None,
                market=optus,
                item=item,
                change=PositionChange(state="shown", reason="Partner selection"),
                via="command",
            )
        position_set(
            actor=None,
            market=optus,
            item=recent[6],
            change=PositionChange(state="pinned", slot=1, reason="Exclusive documentary"),
            via="command",
        )
        for code in ("GB", "US"):
            position_set(
                actor=None,
                market=markets[code],
                item=recent[7],
                change=PositionChange(state="promoted", boost=3, reason="Ocean Week"),
                via="command",
            )

    @transaction.atomic
    def _group_and_rights_windows(self, markets: dict[str, Market]) -> None:
        """What the group schedule, the rights events and the group revert show: a live series
        licensed in DACH's markets for two weeks from next Monday (UTC), DACH's "Alpine wildlife
        weekend" rule, and Lukas' hiding 3 items in DACH for five days from tomorrow (one bulk
        change, revertable from the audit log). Loaded once (the live series marks it)."""
        if ContentItem.objects.filter(upstream_id=ALPS_LIVE_ID).exists():
            return
        dach = MarketGroup.objects.filter(code="DACH").first()
        lukas = User.objects.filter(username="de-manager").first()
        now = timezone.now()
        monday = _next_monday_utc(now)
        content_upsert_bulk(
            actor=None,
            rows=[
                ContentRow(
                    upstream_id=ALPS_LIVE_ID,
                    content_type="video",
                    title="Alps live: the season opener",
                    summary="Licensed in Germany, Austria and Switzerland for two weeks.",
                    url=f"https://media.example.com/videos/{ALPS_LIVE_ID}",
                    source="natgeo-tv",
                    language="de",
                    published_at=datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
                    tags=("travel",),
                    rights=ContentRights(
                        allow=("DE", "AT", "CH"), starts_at=monday, ends_at=monday + timedelta(days=14)
                    ),
                )
            ],
            via="command",
        )
        if dach is None or lukas is None:
            return
        saturday = monday + timedelta(days=5, hours=8)
        group_rule_create(
            actor=None,
            group=dach,
            action="promote",
            match_tags=["wildlife"],
            boost=1,
            starts_at=saturday,
            ends_at=saturday + timedelta(days=2),
            note="Alpine wildlife weekend",
            via="command",
        )
        tomorrow = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(6), tzinfo=UTC)
        hidden = list(
            ContentItem.objects.filter(content_type="article")
            .exclude(group_positions__group=dach)
            .order_by("-published_at")
            .values_list("pk", flat=True)[20:23]
        )
        group_positions_bulk_set(
            actor=lukas,
            group=dach,
            item_ids=hidden,
            change=PositionChange(
                state="hidden",
                starts_at=tomorrow,
                ends_at=tomorrow + timedelta(days=5),
                reason="Alpine week: legal review",
            ),
            via="command",
        )

    @transaction.atomic
    def _upcoming_windows(self, markets: dict[str, Market]) -> None:
        """What the schedule and the revert show: Mia's "Ocean Week" bulk promotion from tomorrow
        06:00 in Sydney, an embargo in AT lifting on Friday 18:00 Vienna time, and a DE rule for
        next week. Loaded once (the campaign's reason marks it)."""
        if Position.objects.filter(reason=OCEAN_WEEK).exists():
            return
        mia = User.objects.get(username="editor")
        now = timezone.now()
        sydney = now.astimezone(ZoneInfo("Australia/Sydney"))
        starts = datetime.combine(sydney.date() + timedelta(days=1), time(6), tzinfo=sydney.tzinfo)
        ocean = list(ContentItem.objects.filter(item_tags__tag__slug="ocean").order_by("-published_at")[:10])
        positions_bulk_set(
            actor=mia,
            markets=[markets[code] for code in ("AU", "GB", "US", "NZ")],
            item_ids=[item.pk for item in ocean],
            change=PositionChange(
                state="promoted",
                boost=3,
                starts_at=starts.astimezone(UTC),
                ends_at=(starts + timedelta(days=7)).astimezone(UTC),
                reason=OCEAN_WEEK,
            ),
            via="command",
        )
        vienna = now.astimezone(ZoneInfo("Europe/Vienna"))
        friday = vienna.date() + timedelta(days=(4 - vienna.weekday()) % 7 or 7)
        lifts = datetime.combine(friday, time(18), tzinfo=vienna.tzinfo).astimezone(UTC)
        embargoed = ContentItem.objects.filter(content_type="article").order_by("-published_at").first()
        if embargoed is not None:
            position_set(
                actor=User.objects.get(username="de-manager"),
                market=markets["AT"],
                item=embargoed,
                change=PositionChange(state="hidden", ends_at=lifts, reason="Embargo until Friday 18:00"),
                via="command",
            )
        de = markets["DE"]
        monday = now.date() + timedelta(days=7 - now.weekday())
        rule_create(
            actor=None,
            market=de,
            action="promote",
            match_tags=["wildlife"],
            boost=2,
            starts_at=datetime.combine(monday, time(6), tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC),
            ends_at=datetime.combine(
                monday + timedelta(days=7), time(6), tzinfo=ZoneInfo("Europe/Berlin")
            ).astimezone(UTC),
            note="Wildlife week",
            via="command",
        )


ALPS_LIVE_ID = "ng-rights-alps-live"


def _next_monday_utc(now: datetime) -> datetime:
    day = now.astimezone(UTC).date()
    return datetime.combine(day + timedelta(days=7 - day.weekday()), time(0), tzinfo=UTC)


# Market groups: (code, name, priority, members, description). A lower priority number is stronger.
GROUPS: list[tuple[str, str, int, list[str], str]] = [
    ("DACH", "Germany, Austria, Switzerland", 10, ["DE", "AT", "CH"], "German-speaking markets."),
    ("EU", "European Union", 20, ["DE", "AT", "FR", "ES", "IT", "NL", "SE", "PL"], "EU member markets."),
    ("LATAM", "Latin America", 20, ["BR", "MX", "AR"], "Spanish- and Portuguese-speaking Americas."),
    ("APAC", "Asia Pacific", 30, ["AU", "IN", "JP", "KR", "SG", "ID", "NZ"], "Asia and the Pacific."),
]


def _load_groups(markets: dict[str, Market], write: Any) -> None:
    """Groups EU, DACH, LATAM and APAC with a few rules and positions; Lukas manages DACH (idempotent)."""
    if MarketGroup.objects.exists():
        return
    now = timezone.now()
    groups = {
        code: group_create(
            actor=None,
            code=code,
            name=name,
            priority=priority,
            description=description,
            members=[markets[m] for m in members if m in markets],
            via="command",
        )
        for code, name, priority, members, description in GROUPS
    }
    group_rule_create(
        actor=None,
        group=groups["EU"],
        action="promote",
        match_tags=["ocean"],
        boost=2,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=14),
        note="Ocean Week across the EU",
        via="command",
    )
    group_rule_create(
        actor=None,
        group=groups["LATAM"],
        action="promote",
        match_tags=["wildlife"],
        boost=1,
        note="Amazon wildlife season",
        via="command",
    )
    group_rule_create(
        actor=None,
        group=groups["APAC"],
        action="hide",
        match_tags=["hunting"],
        note="Hunting stays out of APAC feeds",
        via="command",
    )
    recent = list(ContentItem.objects.order_by("-published_at").values_list("pk", flat=True)[:60])
    # Mia's journey: 40 items promoted in the whole EU for a week, in one bulk action.
    group_positions_bulk_set(
        actor=None,
        group=groups["EU"],
        item_ids=recent[20:60],
        change=PositionChange(
            state="promoted", boost=5, reason="Ocean Week", ends_at=now + timedelta(days=7)
        ),
        via="command",
    )
    group_positions_bulk_set(
        actor=None,
        group=groups["DACH"],
        item_ids=recent[12:15],
        change=PositionChange(state="hidden", reason="Not cleared for German-speaking markets"),
        via="command",
    )
    group_positions_bulk_set(
        actor=None,
        group=groups["LATAM"],
        item_ids=recent[15:18],
        change=PositionChange(state="shown", reason="Spanish dub available"),
        via="command",
    )
    lukas = User.objects.filter(username="de-manager").first()
    if lukas is not None:
        membership_grant(actor=None, user=lukas, role=Role.MARKET_MANAGER, group=groups["DACH"])
    write(f"Demo groups: {', '.join(sorted(groups))}.")
