"""The generation engine shared by the gateway and the in-process evaluation.

Only those two import it (it pulls in torch through `decoding`): `Engine` loads the base model
and its adapters once and batches every request; `events` are the types requests and answers
are made of; `stop_text` turns token ids into streamed text that never leaks a stop sequence.
"""
