"""The invented company: every fact the knowledge base states, drawn by one seeded RNG.

Money is kept in integer cents and weights in tenths of a kilogram so that arithmetic answers
are exact; `money()` and `kilograms()` format them the one way the documents do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from finerag.sample_domain.vocabulary import (
    CATEGORIES,
    COLOURS,
    ERROR_MEANINGS,
    FIRST_NAMES,
    FIX_ACTIONS,
    FIX_THENS,
    PLAN_TIERS,
    PROCEDURES,
    STREETS,
    Category,
    invent_word,
)

PRODUCTS_PER_CATEGORY = 4
ERRORS_PER_CATEGORY = 5


def money(cents: int) -> str:
    """ "$1,249" for whole dollars, "$12.50" otherwise: the documents' one money format."""
    dollars, rest = divmod(cents, 100)
    return f"${dollars:,}" if rest == 0 else f"${dollars:,}.{rest:02d}"


def kilograms(tenths: int) -> str:
    """ "2.4 kg": weights always carry one decimal."""
    return f"{tenths // 10}.{tenths % 10} kg"


def join_words(items: list[str]) -> str:
    """ "A, B and C": how lists of colours or methods are written."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Product:
    """One product and its spec sheet."""

    name: str  # "Velmora X2"
    category: Category
    model_code: str  # "KX-4471"
    price_cents: int
    weight_tenths: int
    warranty_months: int
    colours: tuple[str, ...]
    release_year: int
    dimensions: str  # "38 x 22 x 61 cm"
    spec: str  # value of the family's own spec, e.g. "52 sq m"
    service_kit: str  # "SK-318-M"
    assembly_town: str
    service_months: int

    @property
    def phrase(self) -> str:
        """How a question names it: "the Velmora X2 air purifier"."""
        return f"the {self.name} {self.category.noun}"


@dataclass(frozen=True)
class Plan:
    """A care subscription tier."""

    name: str  # "Tavenna Plus"
    monthly_cents: int
    devices: int
    response_hours: int


@dataclass(frozen=True)
class ErrorCode:
    """A troubleshooting entry: what the code means, how to clear it, which model shows it."""

    code: str  # "A-417"
    category: Category
    meaning: str
    fix: str
    model: Product


@dataclass(frozen=True)
class Procedure:
    """A numbered procedure from a manual."""

    manual: str  # key in vocabulary.PROCEDURES, also the manual's file stem
    title: str  # "pairing a device with the mobile app"
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Showroom:
    """A physical store."""

    city: str
    address: str
    hours: str
    manager: str


@dataclass
class Catalog:
    """Everything the company's documents say, before it is written into documents."""

    company: str  # "Quistral Home Systems"
    brand: str  # "Quistral", the short name used in questions
    products: list[Product] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    errors: list[ErrorCode] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)
    showrooms: list[Showroom] = field(default_factory=list)
    # Single-valued company facts by kind (policies, contact details), in document order.
    policy: dict[str, str] = field(default_factory=dict)
    # Numbers the arithmetic questions need, kept as numbers next to their formatted text.
    express_cents: int = 0
    extended_months: int = 0
    ghost_products: list[str] = field(default_factory=list)  # names the KB never mentions


def _distinct(rng: random.Random, count: int, low: int, high: int, step: int = 1) -> list[int]:
    """`count` distinct values from range(low, high, step), in drawn order."""
    return rng.sample(range(low, high, step), count)


def _series(rng: random.Random, letters: str) -> str:
    """The series part of a product name: "X2"."""
    return f"{rng.choice(letters)}{rng.randint(2, 9)}"


def _span(rng: random.Random, opens: tuple[str, ...], closes: tuple[str, ...]) -> str:
    """Opening hours: "9:00 to 17:30"."""
    return f"{rng.choice(opens)} to {rng.choice(closes)}"


def _person(rng: random.Random, words: list[str]) -> str:
    return f"{rng.choice(FIRST_NAMES)} {invent_word(rng, words)}"


def _products(rng: random.Random, words: list[str], codes: list[str]) -> list[Product]:
    products = []
    for category in CATEGORIES:
        # Distinct prices, weights and years per family make "cheapest", "heaviest" and
        # "newest" questions have exactly one answer.
        prices = _distinct(rng, PRODUCTS_PER_CATEGORY, 9, 190)
        weights = _distinct(rng, PRODUCTS_PER_CATEGORY, 12, 149)
        years = _distinct(rng, PRODUCTS_PER_CATEGORY, 2011, 2025)
        for i in range(PRODUCTS_PER_CATEGORY):
            while True:
                code = f"{rng.choice('BCFGHJKMPRSVXZ')}{rng.choice('BCFGHJKMPRSVXZ')}-"
                code += str(rng.randint(1000, 9999))
                if code not in codes:
                    codes.append(code)
                    break
            spec = {
                "coverage": f"{rng.randint(18, 95)} sq m",
                "capacity": f"{rng.randint(12, 98) * 100:,} litres",
                "zones": f"{rng.randint(2, 9)} zones",
                "extraction": f"{rng.randint(10, 38)} litres per day",
            }[category.spec_kind]
            products.append(
                Product(
                    name=f"{invent_word(rng, words)} {_series(rng, 'CEGKLMRSTVX')}",
                    category=category,
                    model_code=code,
                    price_cents=(prices[i] * 10 - 1) * 100,  # $89 ... $1,899, ends in 9
                    weight_tenths=weights[i],
                    warranty_months=rng.choice((13, 15, 18, 21, 27, 30, 33, 39, 42)),
                    colours=tuple(rng.sample(COLOURS, rng.randint(2, 3))),
                    release_year=years[i],
                    dimensions=" x ".join(str(rng.randint(9, 74)) for _ in range(3)) + " cm",
                    spec=spec,
                    service_kit=f"SK-{rng.randint(100, 999)}-{rng.choice('BDHLMNQRTW')}",
                    assembly_town=invent_word(rng, words),
                    service_months=rng.randint(3, 17),
                )
            )
    return products


def _errors(rng: random.Random, products: list[Product]) -> list[ErrorCode]:
    errors: list[ErrorCode] = []
    for category in CATEGORIES:
        family = [p for p in products if p.category == category]
        numbers = _distinct(rng, ERRORS_PER_CATEGORY, 100, 999)
        meanings = rng.sample(ERROR_MEANINGS[category.slug], ERRORS_PER_CATEGORY)
        actions = rng.sample(FIX_ACTIONS, ERRORS_PER_CATEGORY)
        for number, meaning, action in zip(numbers, meanings, actions, strict=True):
            then = rng.choice(FIX_THENS)
            fix = f"{action}, {then}".format(n=rng.randint(3, 12))
            model = family[len(errors) % len(family)]
            errors.append(
                ErrorCode(f"{category.error_prefix}-{number}", category, meaning, fix, model)
            )
    return errors


def _procedures(rng: random.Random) -> list[Procedure]:
    procedures = []
    for manual, entries in PROCEDURES.items():
        for title, steps in entries:
            # Each {n} gets its own draw; numbers above 2 keep "1 to {n}" style steps sensible.
            filled = tuple(step.format(n=rng.randint(3, 25)) for step in steps)
            procedures.append(Procedure(manual, title, filled))
    return procedures


def _policy(rng: random.Random, brand: str, words: list[str]) -> dict[str, str]:
    """Single-valued facts of the policies, company and contact pages, keyed by fact kind."""
    domain = brand.lower() + ".example"
    return {
        # policies/returns.html
        "returns_window": f"{rng.choice((23, 26, 37, 41, 44, 52))} days",
        "refund_days": f"{rng.randint(4, 12)} business days",
        "return_label_fee": money(rng.randint(3, 11) * 100 + 95),
        "restocking_fee": f"{rng.randint(6, 17)}%",
        "rma_prefix": f"RMA-{rng.choice('BCDFGHJKLMNPQRSTVWXZ')}{rng.randint(10, 99)}",
        "damage_report": f"{rng.randint(26, 71)} hours",
        "return_ship_days": f"{rng.randint(5, 19)} days",
        "exchange_window": f"{rng.randint(53, 88)} days",
        # policies/shipping.html
        "standard_fee": money(rng.randint(5, 14) * 100 + 40),
        "free_threshold": money(rng.randint(31, 89) * 1000),
        "standard_delivery": f"{(d := rng.randint(3, 5))} to {d + rng.randint(2, 4)} business days",
        "carrier": f"{invent_word(rng, words)} Parcel",
        "cutoff": f"{rng.randint(1, 4)}:{rng.choice(('10', '20', '40', '50'))} pm",
        "express_delivery": f"{rng.randint(1, 2)} business days",
        "parcel_limit": f"{rng.randint(23, 61)} kg",
        # policies/warranty.md
        "extended_price": money(rng.randint(5, 19) * 1000 - 100),
        "claim_window": f"{rng.randint(17, 58)} days",
        "registration_window": f"{rng.randint(31, 95)} days",
        "warranty_extension": f"ext. {rng.randint(200, 899)}",
        "repair_turnaround": f"{rng.randint(6, 21)} business days",
        "claim_form": f"WC-{rng.randint(10, 99)}{rng.choice('ABCDEFGH')}",
        "warranty_exclusion": rng.choice(
            ("filter cartridges", "descaler sachets", "wall plugs", "drain hoses")
        ),
        # policies/payments.txt
        "instalments": f"{rng.choice((5, 7, 9, 10, 14))} monthly instalments",
        "instalment_minimum": money(rng.randint(21, 68) * 1000),
        "gift_card_months": f"{rng.randint(19, 41)} months",
        "invoice_days": f"{rng.randint(11, 45)} days",
        "transfer_prefix": f"{brand[:3].upper()}-PAY-{rng.randint(100, 999)}",
        "deposit": f"{rng.randint(11, 35)}%",
        "card_surcharge": f"{rng.randint(1, 2)}.{rng.randint(1, 9)}%",
        "instalment_fee": money(rng.randint(4, 29) * 100 + 50),
        # policies/support.txt
        "weekday_hours": _span(rng, ("7:30", "8:00", "8:30"), ("17:30", "18:00", "18:30")),
        "saturday_hours": _span(rng, ("9:00", "9:30", "10:00"), ("13:00", "14:30", "15:00")),
        "support_phone": f"+1 555 0{rng.randint(100, 199)} {rng.randint(1000, 9999)}",
        "support_email": f"help@{domain}",
        "chat_response": f"{rng.randint(3, 14)} minutes",
        "callback_window": f"{rng.randint(2, 6)} business hours",
        "escalation_code": f"ESC-{rng.randint(1000, 9999)}",
        "holiday_line": f"+1 555 0{rng.randint(200, 299)} {rng.randint(1000, 9999)}",
        # policies/trade-in.pdf
        "tradein_max": f"{rng.randint(2, 6)} devices",
        "tradein_age": f"{rng.randint(4, 12)} years",
        "tradein_validity": f"{rng.randint(40, 180)} days",
        "tradein_collection": money(rng.randint(8, 35) * 100),
        # company/about.md
        "founded": str(rng.randint(1961, 2004)),
        "headquarters": invent_word(rng, words),
        "founder": _person(rng, words),
        "ceo": _person(rng, words),
        "employees": f"{rng.randint(140, 4800):,}",
        "countries": f"{rng.randint(7, 31)} countries",
        "registration": f"CRN {rng.randint(1000000, 9999999)}",
        "mission": rng.choice(("Cleaner air, calmer homes", "Quiet comfort in every room")),
        # company/contact.html
        "press_email": f"press@{domain}",
        "careers_email": f"jobs@{domain}",
        "switchboard": f"+1 555 0{rng.randint(300, 399)} {rng.randint(1000, 9999)}",
        "postal_box": f"PO Box {rng.randint(100, 9999)}",
        "partner_email": f"partners@{domain}",
        "reception_floor": f"floor {rng.randint(3, 17)}",
        "visitor_parking": f"{rng.randint(6, 48)} spaces",
        "office_hours": _span(rng, ("8:45", "9:00", "9:15"), ("16:45", "17:00", "17:15")),
    }


def invent_catalog(seed: int) -> Catalog:
    """All the company's facts for `seed`; the same seed always gives the same company."""
    # Not for security: a seeded PRNG is the point, so the same seed rebuilds the same files.
    rng = random.Random(seed)
    words: list[str] = []
    brand = invent_word(rng, words, (2, 2))
    catalog = Catalog(company=f"{brand} Home Systems", brand=brand)
    catalog.products = _products(rng, words, [])
    monthly = sorted(_distinct(rng, len(PLAN_TIERS), 6, 60))
    devices = sorted(_distinct(rng, len(PLAN_TIERS), 1, 14))
    response = sorted(_distinct(rng, len(PLAN_TIERS), 4, 96), reverse=True)
    plan_word = invent_word(rng, words, (2, 2))
    catalog.plans = [
        Plan(f"{plan_word} {tier}", dollars * 100 + rng.choice((50, 95, 99)), n, hours)
        for tier, dollars, n, hours in zip(PLAN_TIERS, monthly, devices, response, strict=True)
    ]
    catalog.errors = _errors(rng, catalog.products)
    catalog.procedures = _procedures(rng)
    for _ in range(3):
        catalog.showrooms.append(
            Showroom(
                city=invent_word(rng, words),
                address=f"{rng.randint(2, 240)} {invent_word(rng, words)} {rng.choice(STREETS)}",
                hours=f"{rng.randint(8, 10)}:00 to {rng.randint(17, 20)}:00",
                manager=_person(rng, words),
            )
        )
    catalog.policy = _policy(rng, brand, words)
    catalog.express_cents = rng.randint(15, 39) * 100 + 50
    catalog.policy["express_fee"] = money(catalog.express_cents)
    catalog.extended_months = rng.randint(7, 26)
    catalog.policy["extended_months"] = f"{catalog.extended_months} months"
    for family in CATEGORIES:
        # Series letters no real product uses, so a ghost can never collide with one.
        ghost = f"{invent_word(rng, words)} {_series(rng, 'ANPWYZ')}"
        catalog.ghost_products.append(f"the {ghost} {family.noun}")
    for family in CATEGORIES:
        catalog.policy[f"tradein_{family.slug}"] = money(rng.randint(2, 19) * 500)
    return catalog
