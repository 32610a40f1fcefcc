"""The company's own pages: its policies (shipping, returns, warranty, support, trade-in) and
the pages about the company, each fact a policy value from the catalogue placed in a section."""

from __future__ import annotations

from finerag.sample_domain.catalog import Catalog
from finerag.sample_domain.documents import Document, Subject
from finerag.sample_domain.vocabulary import CATEGORIES

SHIPPING_ID = "policies/shipping.html"
WARRANTY_ID = "policies/warranty.md"


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


def policy_documents(catalog: Catalog) -> list[Document]:
    """The policy pages: shipping, returns, warranty, support, trade-in."""
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


def company_documents(catalog: Catalog) -> list[Document]:
    """The pages about the company itself."""
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
