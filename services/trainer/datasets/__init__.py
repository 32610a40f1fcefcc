"""Dataset preparation, beside the recipe that consumes it.

`build` turns a knowledge base and its questions into grounded chat examples (retrieved
sources, citations, abstentions, injections, the agents' sub-tasks); `split` cleans, dedupes and
splits them; `files` writes the train/validation/test JSONL and the data card the recipe reads.
"""
