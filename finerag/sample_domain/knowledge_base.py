"""Turn the invented catalogue into the knowledge base's documents, facts placed in sections.

Formats are spread on purpose: each product family has one document of each format, and the
policy, troubleshooting and manual pages rotate through Markdown, text, HTML and PDF, so
retrieval is exercised on every parser with every kind of fact.
"""

from __future__ import annotations

from finerag.sample_domain.catalog import Catalog, Product, join_words, kilograms, money
from finerag.sample_domain.documents import Document, Fact, Subject, slug
from finerag.sample_domain.vocabulary import CATEGORIES, Category

FORMATS = ("md", "txt", "html", "pdf")
PRICING_ID = "pricing.md"
SHIPPING_ID = "policies/shipping.html"
WARRANTY_ID = "policies/warranty.md"
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")

# Where each family's troubleshooting page and each manual live (one format each).
TROUBLESHOOTING_FORMATS = {
    "air-purifiers": "txt",
    "water-filters": "md",
    "thermostats": "html",
    "dehumidifiers": "pdf",
}
MANUAL_FILES = {
    "installation": ("manuals/installation.pdf", "Installation manual"),
    "maintenance": ("manuals/maintenance.pdf", "Maintenance manual"),
    "app-setup": ("manuals/app-setup.md", "Mobile app setup guide"),
    "filter-replacement": ("manuals/filter-replacement.html", "Filter replacement guide"),
}
BENEFITS = {
    "air-purifiers": "fresher air in living rooms, bedrooms and home offices",
    "water-filters": "clean drinking water straight from the kitchen tap",
    "thermostats": "steady room temperatures with less manual fiddling",
    "dehumidifiers": "dry basements, laundry rooms and bathrooms",
}


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def product_subject(product: Product) -> Subject:
    """How questions name a product."""
    return Subject(product.phrase, product.name.lower())


def product_doc_id(catalog: Catalog, product: Product) -> str:
    """Where a product's page lives; formats rotate per family so each format has every family."""
    family = [p for p in catalog.products if p.category == product.category]
    rotation = CATEGORIES.index(product.category) + family.index(product)
    return f"products/{slug(product.name)}.{FORMATS[rotation % len(FORMATS)]}"


def troubleshooting_id(family: Category) -> str:
    """Where a family's error codes are documented."""
    return f"troubleshooting/{family.slug}.{TROUBLESHOOTING_FORMATS[family.slug]}"


def _product_document(catalog: Catalog, product: Product) -> Document:
    subject = product_subject(product)
    family = product.category
    doc = Document(
        product_doc_id(catalog, product),
        f"{product.name} {family.noun}",
        f"The {product.name} is {_article(family.noun)} {family.noun} from {catalog.company}, "
        f"made for {BENEFITS[family.slug]}.",
    )
    overview = doc.section(
        "Overview",
        f"Every {product.name} ships with a quick start card and a wall chart of its "
        f"error codes. Register it in the {catalog.brand} app to receive service reminders.",
    )
    overview.state("Model code", product.model_code, "model_code", subject)
    overview.state("Release year", str(product.release_year), "release_year", subject)
    overview.state("Colours", join_words(list(product.colours)), "colours", subject)
    overview.state("Assembled in", product.assembly_town, "assembly_town", subject)
    specs = doc.section(
        "Specifications",
        "All figures below are measured on production units without accessories attached.",
    )
    specs.state("Price", money(product.price_cents), "price", subject)
    specs.state("Weight", kilograms(product.weight_tenths), "weight", subject)
    specs.state("Dimensions", product.dimensions, "dimensions", subject)
    specs.state(family.spec_label, product.spec, family.spec_kind, subject)
    specs.state("Warranty", f"{product.warranty_months} months", "warranty", subject)
    specs.state("Service kit", product.service_kit, "service_kit", subject)
    specs.state(
        "Recommended service interval",
        f"{product.service_months} months",
        "service_interval",
        subject,
    )
    return doc


def _pricing(catalog: Catalog) -> Document:
    doc = Document(
        PRICING_ID,
        "Care plans and pricing",
        f"{catalog.company} care plans cover servicing, repairs and technician visits for the "
        "devices in your home. Plans renew monthly and can be changed at any time.",
    )
    for plan in catalog.plans:
        subject = Subject(f"the {plan.name} plan", plan.name.lower())
        section = doc.section(plan.name, f"The {plan.name} plan is billed monthly.")
        section.state("Monthly price", money(plan.monthly_cents), "plan_price", subject)
        section.state("Devices covered", f"{plan.devices} devices", "plan_devices", subject)
        section.state(
            "Technician response time", f"{plan.response_hours} hours", "plan_response", subject
        )
    return doc


def _policy_document(
    catalog: Catalog,
    doc_id: str,
    title: str,
    intro: str,
    sections: list[tuple[str, str, list[tuple[str, str]]]],
) -> Document:
    """A company page: sections of (heading, prose, [(label, policy kind)])."""
    company = Subject(catalog.company, catalog.brand.lower())
    doc = Document(doc_id, title, intro)
    for heading, prose, entries in sections:
        section = doc.section(heading, prose)
        for label, kind in entries:
            section.state(label, catalog.policy[kind], kind, company)
    return doc


def _policies(catalog: Catalog) -> list[Document]:
    c = catalog.company
    tradein = _policy_document(
        catalog,
        "policies/trade-in.pdf",
        "Trade-in programme",
        f"Trade in an old device when you buy a new {c} product and receive store credit.",
        [
            (
                "Conditions",
                "Trade-in devices must power on and be free of water damage.",
                [
                    ("Maximum trade-ins per order", "tradein_max"),
                    ("Maximum device age", "tradein_age"),
                    ("Credit validity", "tradein_validity"),
                    ("Collection fee for trade-in devices", "tradein_collection"),
                ],
            )
        ],
    )
    credit = tradein.section(
        "Credit by product family", "Credit is the same for any brand within a family."
    )
    for family in CATEGORIES:
        subject = Subject(f"an old {family.noun}", family.noun)
        credit.state(
            f"Old {family.noun}",
            catalog.policy[f"tradein_{family.slug}"],
            "tradein_credit",
            subject,
        )
    return [
        _policy_document(
            catalog,
            "policies/returns.html",
            "Returns and refunds",
            f"Changed your mind? {c} accepts returns of products bought online or in a showroom.",
            [
                (
                    "Returning a product",
                    "Start a return from your account page to receive an authorisation number.",
                    [
                        ("Returns window", "returns_window"),
                        ("Return authorisation prefix", "rma_prefix"),
                        ("Ship the return within", "return_ship_days"),
                        ("Exchange for another colour within", "exchange_window"),
                        ("Prepaid return label fee", "return_label_fee"),
                    ],
                ),
                (
                    "Refunds",
                    "Refunds go back to the original payment method.",
                    [
                        ("Refund processing time", "refund_days"),
                        ("Restocking fee on opened items", "restocking_fee"),
                        ("Report transit damage within", "damage_report"),
                    ],
                ),
            ],
        ),
        _policy_document(
            catalog,
            SHIPPING_ID,
            "Shipping and delivery",
            f"{c} ships every order from its own warehouse.",
            [
                (
                    "Standard shipping",
                    "Standard shipping is charged once per order.",
                    [
                        ("Standard shipping fee", "standard_fee"),
                        ("Free standard shipping on orders over", "free_threshold"),
                        ("Standard delivery time", "standard_delivery"),
                    ],
                ),
                (
                    "Express shipping",
                    "Express shipping is always charged, whatever the order value.",
                    [
                        ("Express shipping fee", "express_fee"),
                        ("Express delivery time", "express_delivery"),
                        ("Same-day dispatch cut-off", "cutoff"),
                        ("Carrier", "carrier"),
                        ("Heaviest parcel accepted", "parcel_limit"),
                    ],
                ),
            ],
        ),
        _policy_document(
            catalog,
            WARRANTY_ID,
            "Warranty",
            f"Every {c} product carries the warranty stated on its product page.",
            [
                (
                    "Claims",
                    "Keep your proof of purchase; a claim needs it.",
                    [
                        ("Register your product within", "registration_window"),
                        ("File a claim within", "claim_window"),
                        ("Warranty claims phone extension", "warranty_extension"),
                        ("Not covered", "warranty_exclusion"),
                        ("Claim form", "claim_form"),
                        ("Repair turnaround", "repair_turnaround"),
                    ],
                ),
                (
                    "Extended warranty",
                    "The extended warranty adds months on top of the product's own warranty.",
                    [
                        ("Extended warranty price", "extended_price"),
                        ("Extended warranty adds", "extended_months"),
                    ],
                ),
            ],
        ),
        _policy_document(
            catalog,
            "policies/payments.txt",
            "Payments",
            f"{c} accepts cards, bank transfers and gift cards.",
            [
                (
                    "Instalments",
                    "Instalments carry no interest.",
                    [
                        ("Instalment plan", "instalments"),
                        ("Minimum order for instalments", "instalment_minimum"),
                        ("Deposit on custom orders", "deposit"),
                        ("Instalment setup fee", "instalment_fee"),
                    ],
                ),
                (
                    "Invoices and transfers",
                    "Business customers may pay by invoice.",
                    [
                        ("Invoice payment terms", "invoice_days"),
                        ("Bank transfer reference", "transfer_prefix"),
                        ("Gift card validity", "gift_card_months"),
                        ("Card surcharge on business accounts", "card_surcharge"),
                    ],
                ),
            ],
        ),
        _policy_document(
            catalog,
            "policies/support.txt",
            "Customer support",
            f"The {c} support team helps with orders, setup and repairs.",
            [
                (
                    "Opening hours",
                    "Support is closed on Sundays.",
                    [
                        ("Weekday hours", "weekday_hours"),
                        ("Saturday hours", "saturday_hours"),
                        ("Public holiday line", "holiday_line"),
                    ],
                ),
                (
                    "Contact",
                    "Have your order number ready.",
                    [
                        ("Support phone", "support_phone"),
                        ("Support e-mail", "support_email"),
                        ("Live chat response time", "chat_response"),
                        ("Callback within", "callback_window"),
                        ("Escalation code", "escalation_code"),
                    ],
                ),
            ],
        ),
        tradein,
    ]


def _company(catalog: Catalog) -> list[Document]:
    c = catalog.company
    about = _policy_document(
        catalog,
        "company/about.md",
        f"About {c}",
        f"{c} designs and sells home climate and water products.",
        [
            (
                "History",
                "The company began in a small workshop and still designs every product in-house.",
                [
                    ("Founded", "founded"),
                    ("Founder", "founder"),
                    ("Headquarters", "headquarters"),
                    ("Motto", "mission"),
                ],
            ),
            (
                "Today",
                "The company is privately held.",
                [
                    ("Chief executive", "ceo"),
                    ("Employees", "employees"),
                    ("Sold in", "countries"),
                    ("Company registration number", "registration"),
                ],
            ),
        ],
    )
    contact = _policy_document(
        catalog,
        "company/contact.html",
        f"Contact {c}",
        "For help with a product, see the customer support page. Other enquiries go here.",
        [
            (
                "Head office",
                "Visitors are welcome by appointment.",
                [
                    ("Switchboard", "switchboard"),
                    ("Office hours", "office_hours"),
                    ("Postal address", "postal_box"),
                    ("Reception", "reception_floor"),
                    ("Visitor parking", "visitor_parking"),
                ],
            ),
            (
                "Enquiries",
                "We answer e-mail within two working days.",
                [
                    ("Press", "press_email"),
                    ("Careers", "careers_email"),
                    ("Retail partnerships", "partner_email"),
                ],
            ),
        ],
    )
    stores = Document(
        "company/stores.txt",
        f"{c} showrooms",
        "Try every product before you buy it in one of our showrooms.",
    )
    for showroom in catalog.showrooms:
        subject = Subject(f"the {showroom.city} showroom", f"{showroom.city.lower()} showroom")
        section = stores.section(f"{showroom.city} showroom")
        section.state("Address", showroom.address, "showroom_address", subject)
        section.state("Opening hours", showroom.hours, "showroom_hours", subject)
        section.state("Manager", showroom.manager, "showroom_manager", subject)
    return [about, contact, stores]


def _troubleshooting(catalog: Catalog) -> list[Document]:
    docs = []
    for family in CATEGORIES:
        doc = Document(
            troubleshooting_id(family),
            f"Troubleshooting {family.plural}",
            f"{catalog.company} {family.plural} show an error code on the display when "
            "something needs attention. Find the code below.",
        )
        for error in catalog.errors:
            if error.category != family:
                continue
            subject = Subject(
                f"error {error.code} on {_article(family.noun)} {family.noun}",
                f"{family.noun} {error.code.lower()}",
            )
            section = doc.section(f"Error {error.code}")
            section.state("Meaning", error.meaning, "error_meaning", subject)
            section.state("Fix", error.fix, "error_fix", subject)
            section.state("Affected model", error.model.name, "error_model", subject)
        docs.append(doc)
    return docs


def _manuals(catalog: Catalog) -> list[Document]:
    docs = []
    for manual, (doc_id, title) in MANUAL_FILES.items():
        doc = Document(
            doc_id,
            f"{catalog.brand} {title.lower()}",
            f"This guide applies to every {catalog.company} product unless a step names one.",
        )
        doc.section(
            "Before you start",
            "Read each step to the end before you begin it.",
            "Keep children and pets away from the work area.",
        )
        for procedure in catalog.procedures:
            if procedure.manual != manual:
                continue
            section = doc.section(
                procedure.title[0].upper() + procedure.title[1:],
                f"Follow these steps in order when {procedure.title}.",
            )
            section.steps.extend(procedure.steps)
            for k, step in enumerate(procedure.steps, start=1):
                extras = (("k", str(k)), ("o", ORDINALS[k - 1]))
                subject = Subject(procedure.title, procedure.title, extras)
                section.facts.append(Fact("step", subject, step))
        docs.append(doc)
    return docs


def compose_documents(catalog: Catalog) -> list[Document]:
    """Every document of the knowledge base, in a fixed order."""
    docs = [_product_document(catalog, product) for product in catalog.products]
    docs.append(_pricing(catalog))
    docs.extend(_policies(catalog))
    docs.extend(_company(catalog))
    docs.extend(_troubleshooting(catalog))
    docs.extend(_manuals(catalog))
    return docs
