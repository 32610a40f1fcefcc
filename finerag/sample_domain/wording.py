"""How customers ask about each kind of fact: several wordings, a terse form, a follow-up form.

Placeholders: {e} the subject as a phrase ("the Velmora X2 air purifier"), {t} its terse name
("velmora x2"), {c} the brand, and per-subject extras such as {k} / {o} for step numbers.
Each kind has at least three wordings so the seeded RNG can vary questions of one kind, and a
paraphrase can always take a wording other than the question's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    """The ways to ask for one kind of fact."""

    questions: tuple[str, ...]
    terse: str
    follow_up: str | None = None  # asked after the subject was named in an earlier turn


W = Wording

PRODUCT_WORDINGS = {
    "model_code": W(
        (
            "What is the model code of {e}?",
            "Which model code does {e} have?",
            "What model number is printed on {e}?",
        ),
        "{t} model code?",
        "What is its model code?",
    ),
    "price": W(
        ("What is the price of {e}?", "How much does {e} cost?", "What does {e} sell for?"),
        "{t} price?",
        "How much does it cost?",
    ),
    "weight": W(
        ("How much does {e} weigh?", "What is the weight of {e}?", "How heavy is {e}?"),
        "{t} weight?",
        "How heavy is it?",
    ),
    "warranty": W(
        (
            "How long is the warranty on {e}?",
            "What warranty period comes with {e}?",
            "For how many months is {e} covered by warranty?",
        ),
        "{t} warranty?",
        "How long is its warranty?",
    ),
    "colours": W(
        (
            "Which colours is {e} available in?",
            "What colour options does {e} come in?",
            "In what colours can I buy {e}?",
        ),
        "{t} colours?",
        "Which colours does it come in?",
    ),
    "release_year": W(
        (
            "In which year was {e} released?",
            "When did {e} come out?",
            "What year was {e} launched?",
        ),
        "{t} release year?",
        "When was it released?",
    ),
    "dimensions": W(
        (
            "What are the dimensions of {e}?",
            "How big is {e}?",
            "What size is {e} in centimetres?",
        ),
        "{t} dimensions?",
        "What are its dimensions?",
    ),
    "coverage": W(
        (
            "What area can {e} cover?",
            "What is the coverage area of {e}?",
            "How large a room is {e} rated for?",
        ),
        "{t} coverage area?",
        "What area does it cover?",
    ),
    "capacity": W(
        (
            "What is the filter capacity of {e}?",
            "How many litres can {e} filter per cartridge?",
            "How much water does one cartridge of {e} filter?",
        ),
        "{t} filter capacity?",
        "What is its filter capacity?",
    ),
    "zones": W(
        (
            "How many heating zones does {e} support?",
            "What number of heating zones can {e} control?",
            "How many zones can {e} manage?",
        ),
        "{t} heating zones?",
        "How many heating zones does it support?",
    ),
    "extraction": W(
        (
            "How much moisture does {e} extract per day?",
            "What is the daily extraction of {e}?",
            "How many litres a day does {e} remove?",
        ),
        "{t} daily extraction?",
        "How much does it extract per day?",
    ),
    "service_kit": W(
        (
            "What is the service kit code for {e}?",
            "Which service kit fits {e}?",
            "What service kit part number does {e} use?",
        ),
        "{t} service kit?",
        "Which service kit does it use?",
    ),
    "assembly_town": W(
        ("Where is {e} assembled?", "In which town is {e} put together?", "Which town builds {e}?"),
        "{t} assembled where?",
        "Where is it assembled?",
    ),
    "service_interval": W(
        (
            "How often should {e} be serviced?",
            "What is the recommended service interval for {e}?",
            "How many months should pass between services of {e}?",
        ),
        "{t} service interval?",
        "How often does it need servicing?",
    ),
}

OTHER_WORDINGS = {
    "plan_price": W(
        (
            "How much is {e} per month?",
            "What is the monthly price of {e}?",
            "What does {e} cost each month?",
        ),
        "{t} monthly price?",
        "How much is it per month?",
    ),
    "plan_devices": W(
        (
            "How many devices does {e} cover?",
            "What is the device limit of {e}?",
            "Up to how many devices are included in {e}?",
        ),
        "{t} devices covered?",
        "How many devices does it cover?",
    ),
    "plan_response": W(
        (
            "What is the technician response time of {e}?",
            "How quickly does a technician respond under {e}?",
            "Within how many hours does {e} send a technician?",
        ),
        "{t} response time?",
        "What is its response time?",
    ),
    "error_meaning": W(
        ("What does {e} mean?", "What is the cause of {e}?", "What triggers {e}?"),
        "{t} meaning?",
        "What does it mean?",
    ),
    "error_fix": W(
        ("How do I fix {e}?", "What is the fix for {e}?", "How can I clear {e}?"),
        "{t} fix?",
        "How do I fix it?",
    ),
    "error_model": W(
        (
            "Which model is listed as affected by {e}?",
            "What model does {e} affect?",
            "On which model does {e} occur?",
        ),
        "{t} affected model?",
        "Which model does it affect?",
    ),
    "step": W(
        (
            "What is the {o} step of {e}?",
            "When {e}, what is step {k}?",
            "In the procedure for {e}, what do you do in step {k}?",
        ),
        "{t} step {k}?",
        "What is step {k}?",
    ),
    "showroom_address": W(
        (
            "What is the address of {e}?",
            "Where is {e} located?",
            "At what street address can I find {e}?",
        ),
        "{t} address?",
        "What is its address?",
    ),
    "showroom_hours": W(
        (
            "What are the opening hours of {e}?",
            "When is {e} open?",
            "At what times does {e} open and close?",
        ),
        "{t} opening hours?",
        "When is it open?",
    ),
    "showroom_manager": W(
        (
            "Who manages {e}?",
            "Who is the manager of {e}?",
            "What is the name of the manager at {e}?",
        ),
        "{t} manager?",
        "Who manages it?",
    ),
    "tradein_credit": W(
        (
            "How much trade-in credit does {c} give for {e}?",
            "What is the trade-in value of {e} at {c}?",
            "If I trade in {e}, how much credit do I get from {c}?",
        ),
        "{t} trade-in credit?",
    ),
}

# Company-wide facts: one subject (the company), so the wording carries the whole question.
POLICY_WORDINGS = {
    "returns_window": W(
        (
            "How many days do I have to return a {c} product?",
            "What is the returns window at {c}?",
            "Within how many days can I send a {c} purchase back?",
        ),
        "{c} return window?",
    ),
    "refund_days": W(
        (
            "How long does {c} take to process a refund?",
            "How many business days until a {c} refund is processed?",
            "When will {c} refund my money after a return arrives?",
        ),
        "{c} refund time?",
    ),
    "return_label_fee": W(
        (
            "How much does a {c} return shipping label cost?",
            "What is the fee for a prepaid return label from {c}?",
            "What does {c} charge for a return label?",
        ),
        "{c} return label fee?",
    ),
    "restocking_fee": W(
        (
            "What restocking fee does {c} charge on opened items?",
            "How much is the {c} restocking fee for opened products?",
            "What percentage does {c} keep when I return an opened item?",
        ),
        "{c} restocking fee?",
    ),
    "rma_prefix": W(
        (
            "What prefix do {c} return authorisation numbers start with?",
            "How does a {c} RMA number begin?",
            "Which prefix is used for {c} return authorisations?",
        ),
        "{c} rma prefix?",
    ),
    "damage_report": W(
        (
            "How soon must I report a product damaged in transit to {c}?",
            "What is the deadline for reporting shipping damage to {c}?",
            "Within how many hours do I have to tell {c} about transit damage?",
        ),
        "{c} damage report deadline?",
    ),
    "return_ship_days": W(
        (
            "After a {c} return is authorised, how long do I have to ship it?",
            "How many days do I get to send back an authorised {c} return?",
            "What is the shipping deadline for an authorised {c} return?",
        ),
        "{c} authorised return ship deadline?",
    ),
    "exchange_window": W(
        (
            "How long do I have to exchange a {c} product for another colour?",
            "What is the colour exchange window at {c}?",
            "Within how many days can I swap a {c} product for a different colour?",
        ),
        "{c} colour exchange window?",
    ),
    "parcel_limit": W(
        (
            "What is the heaviest parcel {c} will ship?",
            "What is the parcel weight limit for {c} deliveries?",
            "Up to what weight does {c} accept a parcel for shipping?",
        ),
        "{c} parcel weight limit?",
    ),
    "repair_turnaround": W(
        (
            "How long does a {c} warranty repair take?",
            "What is the repair turnaround for {c} warranty claims?",
            "How many business days does {c} need to repair a product under warranty?",
        ),
        "{c} repair turnaround?",
    ),
    "claim_form": W(
        (
            "Which form do I fill in for a {c} warranty claim?",
            "What is the {c} warranty claim form called?",
            "What form number does {c} use for warranty claims?",
        ),
        "{c} warranty claim form?",
    ),
    "instalment_fee": W(
        (
            "Is there a setup fee for {c} instalments, and how much?",
            "What is the {c} instalment setup fee?",
            "How much does {c} charge to set up an instalment plan?",
        ),
        "{c} instalment setup fee?",
    ),
    "card_surcharge": W(
        (
            "What card surcharge does {c} add on business accounts?",
            "How much is the {c} card surcharge for business customers?",
            "What percentage surcharge do business accounts pay by card at {c}?",
        ),
        "{c} business card surcharge?",
    ),
    "tradein_collection": W(
        (
            "How much does {c} charge to collect a trade-in device?",
            "What is the {c} trade-in collection fee?",
            "What do I pay for {c} to pick up my trade-in device?",
        ),
        "{c} trade-in collection fee?",
    ),
    "reception_floor": W(
        (
            "On which floor is the {c} head office reception?",
            "Where is reception at the {c} head office?",
            "What floor do visitors go to at the {c} head office?",
        ),
        "{c} reception floor?",
    ),
    "visitor_parking": W(
        (
            "How many visitor parking spaces does the {c} head office have?",
            "How much visitor parking is there at the {c} head office?",
            "How many parking spaces are reserved for visitors at {c}?",
        ),
        "{c} visitor parking?",
    ),
    "standard_fee": W(
        (
            "How much is standard shipping at {c}?",
            "What is the {c} standard shipping fee?",
            "What does {c} charge for standard delivery?",
        ),
        "{c} standard shipping fee?",
    ),
    "free_threshold": W(
        (
            "Above what order value is {c} standard shipping free?",
            "What is the free shipping threshold at {c}?",
            "How much do I need to spend for free standard shipping from {c}?",
        ),
        "{c} free shipping threshold?",
    ),
    "standard_delivery": W(
        (
            "How long does {c} standard delivery take?",
            "What is the delivery time for {c} standard shipping?",
            "How many business days does standard shipping from {c} take?",
        ),
        "{c} standard delivery time?",
    ),
    "carrier": W(
        (
            "Which carrier does {c} ship with?",
            "What delivery company does {c} use?",
            "Who delivers {c} orders?",
        ),
        "{c} carrier?",
    ),
    "cutoff": W(
        (
            "What is the same-day dispatch cut-off time at {c}?",
            "By what time must I order from {c} for same-day dispatch?",
            "When is the {c} order cut-off for same-day dispatch?",
        ),
        "{c} dispatch cutoff?",
    ),
    "express_delivery": W(
        (
            "How long does {c} express delivery take?",
            "What is the delivery time for {c} express shipping?",
            "How fast is express shipping from {c}?",
        ),
        "{c} express delivery time?",
    ),
    "express_fee": W(
        (
            "How much is express shipping at {c}?",
            "What is the {c} express shipping fee?",
            "What does {c} charge for express delivery?",
        ),
        "{c} express shipping fee?",
    ),
    "extended_price": W(
        (
            "How much does the {c} extended warranty cost?",
            "What is the price of an extended warranty from {c}?",
            "What do I pay for the {c} extended warranty?",
        ),
        "{c} extended warranty price?",
    ),
    "extended_months": W(
        (
            "How many months does the {c} extended warranty add?",
            "By how much does the {c} extended warranty lengthen cover?",
            "How long is the extension given by the {c} extended warranty?",
        ),
        "{c} extended warranty length?",
    ),
    "claim_window": W(
        (
            "How soon after a fault appears must I file a {c} warranty claim?",
            "What is the {c} warranty claim window?",
            "Within how many days of a fault do I have to claim under a {c} warranty?",
        ),
        "{c} warranty claim window?",
    ),
    "registration_window": W(
        (
            "Within how many days must I register a {c} product for warranty?",
            "What is the warranty registration deadline at {c}?",
            "How long after purchase can I register my {c} warranty?",
        ),
        "{c} warranty registration deadline?",
    ),
    "warranty_extension": W(
        (
            "Which phone extension handles {c} warranty claims?",
            "What extension do I dial for {c} warranty claims?",
            "What is the {c} warranty claims extension?",
        ),
        "{c} warranty extension number?",
    ),
    "warranty_exclusion": W(
        (
            "Which consumables does the {c} warranty exclude?",
            "What parts are not covered by the {c} warranty?",
            "What does the {c} warranty explicitly not cover?",
        ),
        "{c} warranty exclusion?",
    ),
    "instalments": W(
        (
            "In how many instalments can I pay for a {c} order?",
            "How many monthly payments does the {c} instalment plan have?",
            "Over how many instalments does {c} spread a payment?",
        ),
        "{c} instalments count?",
    ),
    "instalment_minimum": W(
        (
            "What is the minimum order for paying in instalments at {c}?",
            "How large must a {c} order be to pay in instalments?",
            "From what order value does {c} offer instalments?",
        ),
        "{c} instalment minimum order?",
    ),
    "gift_card_months": W(
        (
            "How long is a {c} gift card valid?",
            "When does a {c} gift card expire?",
            "For how many months can I use a {c} gift card?",
        ),
        "{c} gift card validity?",
    ),
    "invoice_days": W(
        (
            "How many days do business customers have to pay a {c} invoice?",
            "What are the payment terms on {c} invoices?",
            "When is a {c} invoice due?",
        ),
        "{c} invoice due days?",
    ),
    "transfer_prefix": W(
        (
            "What reference should I put on a bank transfer to {c}?",
            "Which payment reference does {c} ask for on bank transfers?",
            "What bank transfer reference prefix does {c} use?",
        ),
        "{c} bank transfer reference?",
    ),
    "deposit": W(
        (
            "How much deposit does {c} take on custom orders?",
            "What deposit is required for a {c} custom order?",
            "What percentage is paid upfront on {c} custom orders?",
        ),
        "{c} custom order deposit?",
    ),
    "weekday_hours": W(
        (
            "What are {c} support hours on weekdays?",
            "When is {c} customer support open Monday to Friday?",
            "At what times can I reach {c} support on a weekday?",
        ),
        "{c} weekday support hours?",
    ),
    "saturday_hours": W(
        (
            "What are {c} support hours on Saturday?",
            "When is {c} support open on Saturdays?",
            "At what times can I call {c} support on a Saturday?",
        ),
        "{c} saturday support hours?",
    ),
    "support_phone": W(
        (
            "What is the {c} support phone number?",
            "Which number do I call for {c} customer support?",
            "How can I phone {c} support?",
        ),
        "{c} support phone?",
    ),
    "support_email": W(
        (
            "What is the {c} support e-mail address?",
            "Which address do I e-mail for {c} support?",
            "Where do I send an e-mail to {c} customer support?",
        ),
        "{c} support email?",
    ),
    "chat_response": W(
        (
            "How quickly does {c} answer live chat?",
            "What is the typical {c} live chat response time?",
            "How long do I wait for a reply on {c} live chat?",
        ),
        "{c} chat response time?",
    ),
    "callback_window": W(
        (
            "How soon does {c} call back after I request a callback?",
            "What is the {c} callback window?",
            "Within what time does {c} return a callback request?",
        ),
        "{c} callback time?",
    ),
    "escalation_code": W(
        (
            "What code do I quote to escalate a {c} support case?",
            "Which escalation code does {c} support use?",
            "What is the {c} support escalation code?",
        ),
        "{c} escalation code?",
    ),
    "holiday_line": W(
        (
            "What number do I call for {c} support on public holidays?",
            "What is the {c} public holiday support line?",
            "Which phone line does {c} staff on public holidays?",
        ),
        "{c} holiday line?",
    ),
    "tradein_max": W(
        (
            "How many devices can I trade in per {c} order?",
            "What is the maximum number of trade-ins on one {c} order?",
            "Up to how many devices does {c} accept for trade-in per order?",
        ),
        "{c} max trade-ins per order?",
    ),
    "tradein_age": W(
        (
            "How old can a device be to qualify for {c} trade-in?",
            "What is the age limit for {c} trade-in devices?",
            "Up to what age does {c} accept a device for trade-in?",
        ),
        "{c} trade-in age limit?",
    ),
    "tradein_validity": W(
        (
            "How long is {c} trade-in credit valid?",
            "When does {c} trade-in credit expire?",
            "For how many days can I spend {c} trade-in credit?",
        ),
        "{c} trade-in credit validity?",
    ),
    "founded": W(
        ("When was {c} founded?", "In which year was {c} established?", "What year did {c} start?"),
        "{c} founded?",
    ),
    "headquarters": W(
        (
            "Where is {c} headquartered?",
            "In which town are the {c} headquarters?",
            "What town is {c} based in?",
        ),
        "{c} headquarters?",
    ),
    "founder": W(
        ("Who founded {c}?", "Who is the founder of {c}?", "Which person started {c}?"),
        "{c} founder?",
    ),
    "ceo": W(
        (
            "Who is the chief executive of {c}?",
            "Who is the CEO of {c}?",
            "Who runs {c} as chief executive?",
        ),
        "{c} ceo?",
    ),
    "employees": W(
        (
            "How many employees does {c} have?",
            "How many people work at {c}?",
            "What is the headcount of {c}?",
        ),
        "{c} employees?",
    ),
    "countries": W(
        (
            "In how many countries does {c} sell?",
            "How many countries are {c} products sold in?",
            "How many markets does {c} operate in?",
        ),
        "{c} countries?",
    ),
    "registration": W(
        (
            "What is the company registration number of {c}?",
            "Which registration number is {c} filed under?",
            "What is the CRN of {c}?",
        ),
        "{c} crn?",
    ),
    "mission": W(
        (
            "What is the motto of {c}?",
            "What is the {c} company motto?",
            "Which motto does {c} use?",
        ),
        "{c} motto?",
    ),
    "press_email": W(
        (
            "What e-mail address should journalists use for {c}?",
            "What is the {c} press contact e-mail?",
            "Where do I send press enquiries for {c}?",
        ),
        "{c} press email?",
    ),
    "careers_email": W(
        (
            "Where do I send a job application to {c}?",
            "What is the {c} careers e-mail address?",
            "Which address takes job applications at {c}?",
        ),
        "{c} careers email?",
    ),
    "switchboard": W(
        (
            "What is the {c} head office switchboard number?",
            "Which number reaches the {c} head office?",
            "How do I phone the {c} head office?",
        ),
        "{c} head office phone?",
    ),
    "postal_box": W(
        (
            "What is the postal address box of {c}?",
            "Which PO Box does {c} use for mail?",
            "What PO Box should I write to for {c}?",
        ),
        "{c} po box?",
    ),
    "partner_email": W(
        (
            "What e-mail address handles {c} retail partnerships?",
            "Where do retailers write to partner with {c}?",
            "What is the {c} partnerships e-mail?",
        ),
        "{c} partner email?",
    ),
    "office_hours": W(
        (
            "What are the {c} head office hours?",
            "When is the {c} head office open?",
            "At what times is the {c} head office staffed?",
        ),
        "{c} office hours?",
    ),
}

WORDINGS: dict[str, Wording] = {**PRODUCT_WORDINGS, **OTHER_WORDINGS, **POLICY_WORDINGS}

# Questions the knowledge base cannot answer: about real products, attributes never documented.
UNANSWERABLE_PRODUCT_WORDINGS = {
    "battery": W(
        (
            "What is the battery life of {e}?",
            "How long does the battery in {e} last?",
            "How many hours does {e} run on battery?",
        ),
        "{t} battery life?",
        "How long does its battery last?",
    ),
    "noise": W(
        (
            "How loud is {e} in decibels?",
            "What is the noise level of {e}?",
            "How many decibels does {e} produce?",
        ),
        "{t} noise level?",
        "How loud is it?",
    ),
    "power": W(
        (
            "How many watts does {e} use?",
            "What is the power consumption of {e}?",
            "How much power does {e} draw?",
        ),
        "{t} power consumption?",
        "How much power does it use?",
    ),
    "energy_rating": W(
        (
            "What energy efficiency rating does {e} have?",
            "What is the energy label of {e}?",
            "Which energy class is {e} rated?",
        ),
        "{t} energy rating?",
        "What is its energy rating?",
    ),
    "cable": W(
        (
            "How long is the power cable of {e}?",
            "What is the cord length of {e}?",
            "How far does the cable of {e} reach?",
        ),
        "{t} cable length?",
        "How long is its cable?",
    ),
    "smartwatch": W(
        (
            "Can {e} be controlled from a smartwatch?",
            "Does {e} work with smartwatches?",
            "Is there a smartwatch app for {e}?",
        ),
        "{t} smartwatch support?",
        "Does it work with a smartwatch?",
    ),
    "temperature": W(
        (
            "What is the maximum operating temperature of {e}?",
            "Up to what room temperature can {e} run?",
            "What is the highest ambient temperature {e} is rated for?",
        ),
        "{t} max operating temperature?",
        "What is its maximum operating temperature?",
    ),
}

# Company questions the policies never settle.
UNANSWERABLE_POLICY_WORDINGS = (
    W(
        (
            "Does {c} offer a student discount?",
            "Can students get a discount at {c}?",
            "Is there a {c} student discount?",
        ),
        "{c} student discount?",
    ),
    W(
        (
            "Does {c} match competitors' prices?",
            "Will {c} price-match another retailer?",
            "Is there a price-match guarantee at {c}?",
        ),
        "{c} price match?",
    ),
    W(
        (
            "How much does {c} charge for gift wrapping?",
            "What is the gift wrap fee at {c}?",
            "Can {c} gift-wrap my order, and at what cost?",
        ),
        "{c} gift wrap fee?",
    ),
    W(
        (
            "How many loyalty points does {c} give per dollar?",
            "What is the {c} loyalty points rate?",
            "How fast do I earn {c} reward points?",
        ),
        "{c} loyalty points?",
    ),
    W(
        (
            "Who is the chief financial officer of {c}?",
            "Who is the CFO at {c}?",
            "Which person is {c}'s finance chief?",
        ),
        "{c} cfo?",
    ),
    W(
        (
            "What was {c}'s revenue last year?",
            "How much revenue did {c} make last year?",
            "What are the annual sales of {c}?",
        ),
        "{c} revenue?",
    ),
    W(
        (
            "Does {c} offer a military discount?",
            "Can service members get a discount at {c}?",
            "Is there a {c} discount for veterans?",
        ),
        "{c} military discount?",
    ),
    W(
        (
            "What is the {c} stock ticker symbol?",
            "Under which ticker does {c} trade?",
            "Is {c} listed on a stock exchange, and under what symbol?",
        ),
        "{c} ticker?",
    ),
    W(
        (
            "Does {c} install products on weekends?",
            "Can a {c} technician install on a Sunday?",
            "Are {c} installations available at the weekend?",
        ),
        "{c} weekend installation?",
    ),
    W(
        (
            "Does {c} recycle old cartridges for free?",
            "Is there a {c} cartridge recycling programme?",
            "Can I send used cartridges back to {c} for recycling?",
        ),
        "{c} cartridge recycling?",
    ),
)

# Questions about products the company does not sell (names never mentioned in the KB).
UNANSWERABLE_GHOST_WORDINGS = (
    W(
        ("What is the price of {e}?", "How much does {e} cost?", "What does {e} sell for?"),
        "{t} price?",
        "How much does it cost?",
    ),
    W(
        (
            "How long is the warranty on {e}?",
            "What warranty comes with {e}?",
            "For how many months is {e} under warranty?",
        ),
        "{t} warranty?",
        "How long is its warranty?",
    ),
)
