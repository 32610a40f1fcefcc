"""Turn the invented catalogue into the knowledge base's documents, facts placed in sections.

Formats are spread on purpose: each product family has one document of each format, and the
policy, troubleshooting and manual pages rotate through Markdown, text, HTML and PDF, so
retrieval is exercised on every parser with every kind of fact.
"""

from __future__ import annotations

from finerag.sample_domain.catalog import Catalog, Product, join_words, kilograms, money
from finerag.sample_domain.company_pages import (
    company_documents,
    policy_documents,
)
from finerag.sample_domain.documents import Document, Fact, Subject, slug
from finerag.sample_domain.vocabulary import CATEGORIES, Category

FORMATS = ("md", "txt", "html", "pdf")
PRICING_ID = "pricing.md"
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
    docs.extend(policy_documents(catalog))
    docs.extend(company_documents(catalog))
    docs.extend(_troubleshooting(catalog))
    docs.extend(_manuals(catalog))
    return docs
