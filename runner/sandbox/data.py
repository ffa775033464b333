"""Deterministic contacts shaped like the platform's, about one in ten hostile."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

BOTS = {
    "WHATSAPP": ["64f1c2a9e4b0a1b2c3d4e5f6", "64f1c2a9e4b0a1b2c3d4e5a1"],
    "WEBSITE": ["64f1c2a9e4b0a1b2c3d4e5f7", "64f1c2a9e4b0a1b2c3d4e5a2"],
    "TELEGRAM": ["64f1c2a9e4b0a1b2c3d4e5f8"],
    "FACEBOOK": ["64f1c2a9e4b0a1b2c3d4e5f9"],
}
BOT_FIELDS = {
    "_botWhatsapp": "WHATSAPP",
    "_botWebsite": "WEBSITE",
    "_botTelegram": "TELEGRAM",
    "_botFacebook": "FACEBOOK",
}
AGENTS = [f"65a0b1c2d3e4f5a6b7c8d9{i:02x}" for i in range(5)]
SEGMENT_IDS = [f"66b0c1d2e3f4a5b6c7d8e9{i:02x}" for i in range(4)]
STATUSES = ["OPEN", "INPROGRESS", "REVIEW", "ONHOLD", "DEPENDANCY", "CLOSED"]
TAGS = ["vip", "lead", "gold", "newsletter", "churned", "b2b", "wholesale"]
FIRST = ["Asha", "Ravi", "Maria", "John", "Li", "Fatima", "Olga", "Kenji", "Amara", "Lucas"]
LAST = ["Patel", "Smith", "Garcia", "Chen", "Khan", "Ivanova", "Sato", "Okafor", "Silva", "Brown"]
COUNTRIES = [
    ("IN", "91", "Mumbai"),
    ("GB", "+44", "London"),
    ("US", "1", "Austin"),
    ("BR", "+55", "Recife"),
    ("AE", "971", "Dubai"),
]
HOSTILE = [
    'Smith, "Bob"',
    "Line one\nLine two",
    "Carriage\r\nReturn",
    '=HYPERLINK("http://evil.example","click")',
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd|' /C calc'!A0",
    "\tTabbed",
    "🎉 Party Person 🎂",
    "Zoë Ångström-Ünal",
    "محمد عبد الله",
    "张伟",
    "Ελένη Παπαδοπούλου",
    "zero\u200bwidth\u200djoiner",
    "",
    "O'Brien; DROP TABLE users;--",
    "comma,separated,name",
    '"quoted"',
    "trailing space ",
    "नमस्ते दुनिया",
]
RECORDS = {
    "contacts": "contacts as the platform sends them",
    "int-ids": "integer ids that Python's hash() maps to a few values (0, 1, n and n + 2**61 - 1)",
    "missing-ids": "every tenth contact without an _id",
    "non-objects": "every tenth record is 1, 'a', null or [2] instead of a contact",
}
TEXTS = [
    "Hi, is my order shipped?",
    "Thanks!",
    "Can I talk to a human?",
    "Price for 2 units?",
    "Where is your store?",
]


def _parse(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def api_time(moment: dt.datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the filters look at, kept beside the serialized contact."""

    id: Any  # a string, an integer with records="int-ids", None when missing
    search: str
    tags: frozenset[str]
    status: str
    platform: str
    bot: str
    agent: str | None
    segments: frozenset[str]
    last_by: str
    is_online: bool
    user_interacted: bool
    is_live_chat_active: bool
    is_subscriber: bool
    is_contact: bool
    ordered: bool
    ordered_at: str
    last_seen_at: str
    created_at: str


def _hex(rng: random.Random, bits: int = 96) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _below(bits: Callable[[int], int], n: int) -> int:
    """``random.Random._randbelow(n)``'s draws (the fewest bits that cover ``n``, again
    while out of range), two calls shorter: ``rng.choice(seq)`` is ``seq[_below(bits,
    len(seq))]``, ``rng.randrange(a, b)`` ``a + _below(bits, b - a)`` (a test holds them
    to Python's own)."""
    k = n.bit_length()
    r = bits(k)
    while r >= n:
        r = bits(k)
    return r


PLATFORMS = tuple(BOTS)
BY = ("user", "bot")  # lastMessage.by, weighted 5, 4, and 1 for an agent
TAG_COUNTS, SEGMENT_COUNTS = (0, 1, 1, 2, 3), (0, 0, 1, 2)  # how many a contact has
SECONDARY, PLANS = ("website", "whatsapp", "api"), ("gold", "silver", "free")
SOURCES, GENDERS = ("ads", "organic", "referral, partner"), ("MALE", "FEMALE", "OTHER", "")
MAYBE_AGENT = (None, None, *AGENTS)
CREATED_SPAN = 400 * 86400  # seconds: createdAt up to 400 days before the anchor


def make_contact(rng: random.Random, anchor: dt.datetime, customer: str) -> dict[str, Any]:
    """One contact; its draws, in their order, are those of ``rng.choice`` and the like
    (:func:`_below`), so a seed gives the contacts it always gave."""
    bits, rand = rng.getrandbits, rng.random
    anchor = anchor.astimezone(dt.UTC).replace(tzinfo=None)
    hostile = rand() < 0.1
    first, last = FIRST[_below(bits, len(FIRST))], LAST[_below(bits, len(LAST))]
    name = HOSTILE[_below(bits, len(HOSTILE))] if hostile else f"{first} {last}"
    country, prefix, city = COUNTRIES[_below(bits, len(COUNTRIES))]
    if hostile and rand() < 0.5:
        prefix = prefix.lstrip("+") if prefix.startswith("+") else "+" + prefix
    number = ("0" if rand() < 0.2 else "") + str(7_000_000_000 + _below(bits, 2_999_999_999))
    platform = PLATFORMS[_below(bits, len(PLATFORMS))]
    created, last_seen, ordered, ordered_at = _moments(rng, anchor)
    agent_by = AGENTS[_below(bits, len(AGENTS))]
    by = rng.choices([*BY, agent_by], [5, 4, 1])[0]
    tags = sorted(rng.sample(TAGS, TAG_COUNTS[_below(bits, 5)]))
    email = f"{first}.{last}{_below(bits, 1000)}@example.com".lower()
    if hostile:
        forms = (email, "", f'"weird,addr"@{city.lower()}.example', email.upper())
        email = forms[_below(bits, 4)]
    agent = MAYBE_AGENT[_below(bits, len(MAYBE_AGENT))]
    bots, seen = BOTS[platform], _stamp(last_seen)
    phone, place = {"number": number, "prefix": prefix}, (country, city)
    return {
        "_id": f"{bits(96):024x}",
        "_customer": customer,
        "_bot": bots[_below(bits, len(bots))],
        "_agentAssigned": agent,
        "platform": [platform],
        "secondaryPlatform": [SECONDARY[_below(bits, 3)]],
        "isOnline": rand() < 0.1,
        "userInteracted": rand() < 0.8,
        "isContact": rand() < 0.85,
        "isLiveChatActive": rand() < 0.15,
        "isSubscriber": rand() < 0.6,
        "status": STATUSES[_below(bits, len(STATUSES))],
        # Here, between "status" and "lastMessage": the random draws keep their order.
        "profile": _profile(rng, name, first, {"email": email, "phone": phone}, tags, place),
        "lastMessage": {
            "by": by,
            "at": seen,
            "text": HOSTILE[_below(bits, len(HOSTILE))]
            if hostile
            else TEXTS[_below(bits, len(TEXTS))],
        },
        "segments": sorted(rng.sample(SEGMENT_IDS, SEGMENT_COUNTS[_below(bits, 4)])),
        "hasOrdered": {"status": ordered, "lastAt": ordered_at},
        "lastSeenAt": seen,
        "createdAt": _stamp(created),
        "updatedAt": seen,
        "__v": 0,
    }


def _moments(rng: random.Random, anchor: dt.datetime) -> tuple[dt.datetime, dt.datetime, bool, str]:
    """A contact's createdAt (up to 400 days before ``anchor``), its last sighting, and
    whether and when it ordered."""
    bits, rand = rng.getrandbits, rng.random
    created = anchor - dt.timedelta(
        seconds=_below(bits, CREATED_SPAN), milliseconds=_below(bits, 1000)
    )
    last_seen = created + (anchor - created) * rand() ** 0.3
    ordered = rand() < 0.45
    ordered_at = _stamp(created + (anchor - created) * rand()) if ordered else ""
    return created, last_seen, ordered, ordered_at


def _stamp(moment: dt.datetime) -> str:
    """:func:`api_time` of a naive UTC moment."""
    return moment.isoformat(timespec="milliseconds") + "Z"


def _profile(
    rng: random.Random,
    name: str,
    first: str,
    contact: dict[str, Any],
    tags: list[str],
    place: tuple[str, str],
) -> dict[str, Any]:
    bits = rng.getrandbits
    country, city = place
    return {
        "userDetails": {
            "name": name,
            "userProvidedName": (name, "", first)[_below(bits, 3)],
            "contact": contact,
            "tags": tags,
            "attributes": [
                {"key": "plan", "value": PLANS[_below(bits, 3)]},
                {"key": "source", "value": SOURCES[_below(bits, 3)]},
            ],
            "country": country,
            "city": city,
            "gender": GENDERS[_below(bits, 4)],
        },
        "notes": [{"title": "first contact", "description": TEXTS[_below(bits, len(TEXTS))]}]
        if rng.random() < 0.3
        else [],
    }


def facts_of(c: dict[str, Any]) -> Facts:
    details = c["profile"]["userDetails"]
    phone = details["contact"]["phone"]
    search = " ".join(
        [
            details["name"],
            details["userProvidedName"],
            details["contact"]["email"],
            phone["prefix"] + phone["number"],
            phone["number"],
        ]
    ).lower()
    return Facts(
        id=c["_id"],
        search=search,
        tags=frozenset(details["tags"]),
        status=c["status"],
        platform=c["platform"][0],
        bot=c["_bot"],
        agent=c["_agentAssigned"],
        segments=frozenset(c["segments"]),
        last_by=c["lastMessage"]["by"],
        is_online=c["isOnline"],
        user_interacted=c["userInteracted"],
        is_live_chat_active=c["isLiveChatActive"],
        is_subscriber=c["isSubscriber"],
        is_contact=c["isContact"],
        ordered=c["hasOrdered"]["status"],
        ordered_at=c["hasOrdered"]["lastAt"],
        last_seen_at=c["lastSeenAt"],
        created_at=c.get("createdAt") or "",  # "" when missing: no range matches it
    )


def _int_id(i: int) -> int:
    """0, 2**61-1, ..., -1, -2**61, ..., 1, ...: hash() maps n and n + 2**61 - 1 to one
    value and -1 to -2, so ``hash(id) or 1`` folds these ids eight or more at a time."""
    multiple, j = (i % 8) * (2**61 - 1), i // 8
    return multiple + j if i % 8 < 4 else -(multiple - 4 * (2**61 - 1) + j + 1)


@dataclass
class Population:
    """Contacts newest ``createdAt`` first: their JSON bytes and their facts. ``dated``:
    the rows that have a ``createdAt`` (those without come after them, or before)."""

    blobs: list[bytes]
    facts: list[Facts]
    dated: range = field(default_factory=lambda: range(0))
    gone: set[Any] = field(default_factory=set)  # ids deleted (churn): in no list any more

    def __post_init__(self) -> None:
        if not self.dated:
            self.dated = range(len(self.facts))

    @classmethod
    def generate(cls, users: int, seed: int, anchor: dt.datetime) -> Population:
        rng = random.Random(seed)
        customer = _hex(rng)
        rows = []
        for _ in range(users):
            contact = make_contact(rng, anchor, customer)
            rows.append((contact["createdAt"], orjson.dumps(contact), facts_of(contact)))
        rows.sort(key=lambda r: r[0], reverse=True)
        return cls([r[1] for r in rows], [r[2] for r in rows])

    def edit(self, index: int, change: Callable[[dict[str, Any]], None]) -> None:
        """Change contact ``index`` in place (its blob and its facts)."""
        contact = orjson.loads(self.blobs[index])
        change(contact)
        self.blobs[index] = orjson.dumps(contact)
        self.facts[index] = facts_of(contact)

    def redate(self, index: int, stamp: str) -> None:
        """Contact ``index`` created at ``stamp``, its one createdAt replaced in its bytes
        (a text value escapes its quotes: none holds the key's form)."""
        key, facts = b'"createdAt":"', self.facts[index]
        blob, old = self.blobs[index], key + facts.created_at.encode() + b'"'
        if facts.created_at and blob.count(key) == 1 and old in blob:
            self.blobs[index] = blob.replace(old, key + stamp.encode() + b'"', 1)
        else:  # facts replaced, not made again: a contact reshaped may have no _id
            self.blobs[index] = orjson.dumps({**orjson.loads(blob), "createdAt": stamp})
        self.facts[index] = dataclasses.replace(facts, created_at=stamp)

    def sort(self, missing_first: bool = False) -> None:
        """Newest ``createdAt`` first (a stable sort: ties keep their order), contacts
        without one after the dated ones, or before them (``missing_first``)."""
        order = sorted(
            range(len(self.facts)),
            key=lambda i: (
                bool(self.facts[i].created_at) != missing_first,
                self.facts[i].created_at,
            ),
            reverse=True,
        )
        self.blobs = [self.blobs[i] for i in order]
        self.facts = [self.facts[i] for i in order]
        dated = [i for i, f in enumerate(self.facts) if f.created_at]
        self.dated = range(dated[0], dated[-1] + 1) if dated else range(0)

    def reshape(self, kind: str) -> None:
        """Misbehave on purpose (``SandboxOptions.records``): integer ids that Python's
        ``hash`` folds together, ids missing, or records that are not objects."""
        if kind == "contacts":
            return
        odd: list[Any] = [1, "a", None, [2]]
        for i, blob in enumerate(self.blobs):
            contact = orjson.loads(blob)
            if kind == "int-ids":
                contact["_id"] = _int_id(i)
            elif i % 10 != 9:
                continue
            elif kind == "missing-ids":
                del contact["_id"]
            else:  # non-objects
                self.blobs[i] = orjson.dumps(odd[(i // 10) % len(odd)])
                continue
            self.blobs[i] = orjson.dumps(contact)
            self.facts[i] = dataclasses.replace(self.facts[i], id=contact.get("_id"))

    def newcomers(self, number: int, size: int) -> list[bytes]:
        """A page of new contacts, their ids made from the page number (paging="endless")."""
        contact = orjson.loads(self.blobs[0]) if self.blobs else {}
        page = []
        for i in range(size):
            contact["_id"] = f"{number:012x}{i:012x}"
            page.append(orjson.dumps(contact))
        return page

    def tie(self, count: int, at: str | None) -> str:
        """Move ``count`` contacts onto one ``createdAt``: the newest ones created at or
        before ``at`` (default: the middle contact's instant), so the list stays newest
        first. Returns that instant in the platform's format."""
        if not self.facts:
            return ""
        instant = api_time(_parse(at)) if at else self.facts[len(self.facts) // 2].created_at
        start = next((i for i, f in enumerate(self.facts) if f.created_at <= instant), None)
        chosen = range(0) if start is None else range(start, min(len(self.facts), start + count))
        for i in chosen:
            self.redate(i, instant)
        return instant

    def scramble(self, seed: int) -> None:
        """Put the contacts in an order unrelated to ``createdAt`` (the same for a seed)."""
        order = list(range(len(self.blobs)))
        random.Random(seed).shuffle(order)
        self.blobs = [self.blobs[i] for i in order]
        self.facts = [self.facts[i] for i in order]

    def arrival(self, stamp: str, rng: random.Random) -> tuple[bytes, Facts]:
        """A contact created at ``stamp`` with a new id, shaped like the newest one."""
        contact = orjson.loads(self.blobs[0])
        contact["_id"] = _hex(rng)
        contact["createdAt"] = stamp
        return orjson.dumps(contact), facts_of(contact)

    def clone_first(self, index: int, rng: random.Random) -> tuple[bytes, Facts]:
        """A new contact identical to ``index`` but for its id (live data churn)."""
        contact = orjson.loads(self.blobs[index])
        contact["_id"] = _hex(rng)
        return orjson.dumps(contact), facts_of(contact)
