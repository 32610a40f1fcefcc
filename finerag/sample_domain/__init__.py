"""A reproducible sample domain: an invented company's documents and labelled questions.

`generate_sample_domain(out_dir, seed)` writes `kb/` (Markdown, text, HTML and PDF documents)
and `qa.jsonl` (factual, unanswerable, multi-hop and arithmetic questions in the evaluation
format); `iter_corpus_texts(domain)` yields all of its text, to train a tokenizer on.

Modules, in the order the data flows: `vocabulary` (word pools) -> `catalog` (the facts) ->
`knowledge_base` (facts placed into `documents`) -> `rendering`/`pdf` (files) ->
`questions`/`reasoning` (cases, worded by `wording`, varied by `variants`) -> `generator`.
"""

from finerag.sample_domain.generator import SampleDomain, generate_sample_domain, iter_corpus_texts

__all__ = ["SampleDomain", "generate_sample_domain", "iter_corpus_texts"]
