"""The support-case agent: a return request, decided by the returns policy and the purchase
date, that pauses to ask the customer when the date is missing.

    find_policy → purchase_date ─(no date yet: interrupt, ask the customer)→ purchase_date …
                      ├─(a date)→ decide → END (accepted or declined, citing the policy)
                      └─(no readable date after two asks)→ hand_over → END
    no returns window in the knowledge base → hand_over

The pause is LangGraph's `interrupt()`: the run stops, its state is in the checkpointer under
the conversation's thread id, and the customer's next message on that thread resumes it
(`Command(resume=message)`), in this process or in one started after a restart. The decision is
arithmetic on the cited policy and the date, never the model's opinion; the model only reads a
date the rules cannot (it is asked for YYYY-MM-DD, and its answer is checked like any other).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from services.gateway.core.agents.steps import (
    AgentState,
    AgentTools,
    StepFailed,
    StepResult,
    as_node,
    hit_record,
)
from shared.contracts.agent_prompts import purchase_date_messages
from shared.contracts.prompts import Message

MAX_ASKS = 2
POLICY_QUERY = "Returns window: how many days after purchase a product can be returned"
ASK_DATE = "When did you buy it? Please give the purchase date, for example 2025-03-14."
ASK_AGAIN = "Sorry, I could not read that date. On which day did you buy it (YYYY-MM-DD)?"
HAND_OVER = (
    "I am passing your case to a member of our support team, who will reply in this conversation."
)

_WINDOW = re.compile(r"returns?\s+window\D{0,40}?(\d{1,3})\s*days", re.IGNORECASE)
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})\b")
_MONTH_DAY = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_AGO = re.compile(r"\b(\d{1,3})\s+(day|week)s?\s+ago\b", re.IGNORECASE)


class SupportState(AgentState, total=False):
    """The support case: the policy, the purchase date, the decision."""

    today: str
    window_days: int
    purchase_date: str
    asks: int
    decision: str  # accepted | declined | handed_over
    handover_reason: str


def start(question: str, history: list[Message], today: date | None = None) -> dict[str, Any]:
    """The state a new case starts from (`today` is fixed once, so a resumed case is decided
    on the day it was opened)."""
    return {
        "question": question,
        "history": history,
        "today": (today or date.today()).isoformat(),
        "sources": [],
        "purchase_date": "",
        "asks": 0,
        "decision": "",
        "handover_reason": "",
        "answer": "",
        "status": "",
        "failure": "",
        "spent": 0,
    }


def parse_date(text: str, today: date) -> date | None:
    """A purchase date written in `text` (ISO, `14 March 2025`, `March 14, 2025`, `3 days
    ago`, `yesterday`); None when there is none or it is in the future."""
    found: date | None = None
    try:
        if match := _ISO.search(text):
            found = date(int(match[1]), int(match[2]), int(match[3]))
        elif (match := _DAY_MONTH.search(text)) and _month(match[2]):
            found = date(int(match[3]), _month(match[2]), int(match[1]))
        elif (match := _MONTH_DAY.search(text)) and _month(match[1]):
            found = date(int(match[3]), _month(match[1]), int(match[2]))
        elif match := _AGO.search(text):
            days = int(match[1]) * (7 if match[2].lower() == "week" else 1)
            found = today - timedelta(days=days)
        elif re.search(r"\byesterday\b", text, re.IGNORECASE):
            found = today - timedelta(days=1)
    except ValueError:  # 31 February
        return None
    return found if found is not None and found <= today else None


def _month(word: str) -> int:
    word = word.lower()
    return next((i for i, m in enumerate(_MONTHS, start=1) if m.startswith(word[:3])), 0)


def find_policy(state: SupportState, tools: AgentTools) -> StepResult:
    """Search the returns policy and read its window (in days) from the source itself."""
    for hit in tools.search(POLICY_QUERY):
        if match := _WINDOW.search(hit.text):
            days = int(match[1])
            update = {"window_days": days, "sources": [hit_record(hit)]}
            return StepResult(update, input=POLICY_QUERY, output=f"{days} days ({hit.doc_id})")
    reason = "the knowledge base states no returns window"
    return StepResult({"handover_reason": reason}, input=POLICY_QUERY, output=reason)


def purchase_date(state: SupportState, tools: AgentTools) -> StepResult:
    """The purchase date from the conversation, else ask the customer (the run pauses here)."""
    today = date.fromisoformat(state["today"])
    said = " ".join([state["question"], *(m["content"] for m in state.get("history", []))])
    found = parse_date(said, today) if state.get("asks", 0) == 0 else None
    asks = state.get("asks", 0)
    if found is None:
        reply = str(interrupt({"ask": ASK_DATE if asks == 0 else ASK_AGAIN}))
        asks += 1
        found = parse_date(reply, today) or _date_by_model(tools, reply, today)
        said = reply
    update = {"purchase_date": found.isoformat() if found else "", "asks": asks}
    return StepResult(update, input=said, output=update["purchase_date"] or "no date")


def _date_by_model(tools: AgentTools, message: str, today: date) -> date | None:
    """The model reads a date the rules could not; its answer must be a real, past date."""
    try:
        reply = tools.ask(purchase_date_messages(message, today.isoformat()))
    except StepFailed:
        return None
    match = _ISO.search(reply)
    return parse_date(match.group(0), today) if match else None


def decide(state: SupportState, _tools: AgentTools) -> StepResult:
    """Accept when the purchase is inside the returns window, else decline; cite the policy."""
    bought = date.fromisoformat(state["purchase_date"])
    days = (date.fromisoformat(state["today"]) - bought).days
    window = state["window_days"]
    accepted = days <= window
    verdict = (
        "so your return is accepted. Start it from your account page to receive an "
        "authorisation number."
        if accepted
        else "so we cannot accept this return."
    )
    where = "inside" if accepted else "outside"
    answer = (
        f"You bought it on {bought.isoformat()}, {days} days ago, which is {where} our "
        f"{window}-day returns window [1], {verdict}"
    )
    decision = "accepted" if accepted else "declined"
    update = {"answer": answer, "decision": decision, "status": "answered"}
    return StepResult(update, input={"days": days, "window_days": window}, output=decision)


def hand_over(state: SupportState, _tools: AgentTools) -> StepResult:
    """A person takes the case."""
    reason = state.get("handover_reason") or state.get("failure") or "no purchase date"
    update = {"answer": HAND_OVER, "decision": "handed_over", "status": "handed_over"}
    return StepResult(update, input=reason, output=HAND_OVER)


def _after_policy(state: SupportState) -> str:
    return "hand_over" if state.get("failure") or state.get("handover_reason") else "purchase_date"


def _after_date(state: SupportState) -> str:
    if state.get("failure"):
        return "hand_over"
    if state.get("purchase_date"):
        return "decide"
    return "hand_over" if state.get("asks", 0) >= MAX_ASKS else "purchase_date"


def build(tools: AgentTools, checkpointer: Any = None) -> Any:
    """The compiled support-case graph (it needs a checkpointer to pause)."""
    graph = StateGraph(SupportState)
    graph.add_node("find_policy", as_node("find_policy", find_policy, tools))
    graph.add_node("purchase_date", as_node("purchase_date", purchase_date, tools))
    graph.add_node("decide", as_node("decide", decide, tools))
    graph.add_node("hand_over", as_node("hand_over", hand_over, tools, budgeted=False))
    graph.add_edge(START, "find_policy")
    graph.add_conditional_edges("find_policy", _after_policy)
    graph.add_conditional_edges("purchase_date", _after_date)
    graph.add_conditional_edges("decide", lambda s: "hand_over" if s.get("failure") else END)
    graph.add_edge("hand_over", END)
    return graph.compile(checkpointer=checkpointer)
