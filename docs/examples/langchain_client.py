"""Calling FineRAG from LangChain: `ChatOpenAI` pointed at the gateway, streamed, and a LangGraph
graph of your own whose model steps are the gateway's models and agents.

    python docs/examples/langchain_client.py http://127.0.0.1:8000 MODEL KNOWLEDGE_BASE

The gateway is an OpenAI-compatible server, so nothing FineRAG-specific is needed beyond
`base_url`; its extensions (`rag`, `thread_id`) go in `extra_body`. An agent is called the way
a model is: `model="agent:research"` (or `agent:research@<fine-tuned model>`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any, TypedDict

from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph


def chat_model(gateway_url: str, model: str, knowledge_base: str | None = None) -> ChatOpenAI:
    """ChatOpenAI on the gateway; with a knowledge base, every answer is grounded in it."""
    return ChatOpenAI(
        model=model,
        base_url=f"{gateway_url.rstrip('/')}/v1",
        api_key=os.environ.get("FINERAG_API_KEY", "unused"),
        temperature=0,
        max_tokens=64,
        extra_body={"rag": {"knowledge_base": knowledge_base}} if knowledge_base else None,
    )


def stream_answer(llm: ChatOpenAI, question: str) -> Iterator[str]:
    """The answer piece by piece, as the gateway streams it."""
    for chunk in llm.stream([("user", question)]):
        if isinstance(chunk.content, str) and chunk.content:
            yield chunk.content


class Reply(TypedDict, total=False):
    """The state of the example graph: the customer's question, a draft, the reply."""

    question: str
    draft: str
    reply: str


def support_reply_graph(research: ChatOpenAI, writer: ChatOpenAI) -> Any:
    """Your own graph: a grounded draft from one model (or agent), then a friendly reply
    written by another, both served by the gateway."""

    def draft(state: Reply) -> Reply:
        return {"draft": str(research.invoke([("user", state["question"])]).content)}

    def reply(state: Reply) -> Reply:
        prompt = f"Rewrite this answer as a short, friendly reply to a customer:\n{state['draft']}"
        return {"reply": str(writer.invoke([("user", prompt)]).content)}

    graph = StateGraph(Reply)
    graph.add_node("draft", draft)
    graph.add_node("reply", reply)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "reply")
    graph.add_edge("reply", END)
    return graph.compile()


def main(argv: list[str]) -> int:
    """Stream one grounded answer, then run the example graph with the research agent."""
    if len(argv) != 3:
        print(__doc__)
        return 2
    url, model, kb = argv
    question = "What is the returns window?"
    for piece in stream_answer(chat_model(url, model, kb), question):
        print(piece, end="", flush=True)
    print()
    graph = support_reply_graph(chat_model(url, "agent:research", kb), chat_model(url, model))
    print(graph.invoke({"question": question})["reply"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
