"""Token-aware chunking with the embedder's own tokenizer."""

from __future__ import annotations

import itertools

import pytest

from services.ingestion.core.chunking import Chunker, split_sentences
from services.ingestion.core.documents import Section
from services.ingestion.core.tokens import load_token_counter


@pytest.fixture(scope="module")
def count():
    return load_token_counter("all-MiniLM-L6-v2")


def test_token_counter_is_the_minilm_wordpiece_tokenizer(count):
    assert count(["Refunds are issued.", ""]) == [5, 0]  # ref ##unds are issued .


def test_split_sentences_on_end_punctuation_and_lines():
    assert split_sentences('He said "yes." Then left! Did he?\n- item one') == [
        'He said "yes."',
        "Then left!",
        "Did he?",
        "- item one",
    ]


def test_chunks_fit_the_budget_and_overlap_by_whole_sentences(count):
    chunker = Chunker(count, chunk_tokens=40, overlap_tokens=12)
    sentences = [f"Sentence {i} says the value is {i * 7}." for i in range(20)]
    chunks = chunker.chunk_section(Section("Values", " ".join(sentences)))

    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.section == "Values"
        assert count([chunk.text])[0] == chunk.tokens <= 40
    for before, after in itertools.pairwise(chunks):
        last_sentence = split_sentences(before.text)[-1]
        assert after.text.startswith(last_sentence)  # the overlap
    joined = " ".join(chunk.text for chunk in chunks)
    assert all(sentence in joined for sentence in sentences)


def test_long_sentence_is_cut_between_words(count):
    chunker = Chunker(count, chunk_tokens=20, overlap_tokens=0)
    words = [f"alpha{i}" for i in range(60)]
    chunks = chunker.chunk_section(Section("", " ".join(words)))
    assert all(chunk.tokens <= 20 for chunk in chunks)
    assert " ".join(chunk.text for chunk in chunks).split() == words  # no word split or lost


def test_chunks_never_cross_sections(count):
    chunker = Chunker(count, chunk_tokens=200, overlap_tokens=20)
    chunks = chunker.chunk_sections([Section("A", "First."), Section("B", "Second.")])
    assert [(c.section, c.text) for c in chunks] == [("A", "First."), ("B", "Second.")]


def test_paragraph_breaks_are_kept_inside_a_chunk(count):
    chunker = Chunker(count, chunk_tokens=200, overlap_tokens=0)
    (chunk,) = chunker.chunk_section(Section("", "One. Two.\n\nThree."))
    assert chunk.text == "One. Two.\n\nThree."


def test_overlap_must_be_under_half_the_chunk(count):
    with pytest.raises(ValueError, match="FINERAG_CHUNK_OVERLAP_TOKENS"):
        Chunker(count, chunk_tokens=64, overlap_tokens=40)
