"""The injection attacks: canaries that no answer contains by chance, two phrasings per family."""

from __future__ import annotations

from shared.contracts import injections


def test_canaries_are_stable_per_key_and_recognisable():
    first, again, other = (injections.canary_for(k) for k in ("case-1", "case-1", "case-2"))
    assert first == again
    assert first != other
    assert injections.mentions_a_canary(f"reply with {first}")
    assert not injections.mentions_a_canary("The Pro plan costs $46.95 a month [1].")


def test_training_and_evaluation_phrase_each_family_differently():
    train = {a.family: a.text for a in injections.attacks("train")}
    evaluation = {a.family: a.text for a in injections.attacks("eval")}
    assert set(train) == set(evaluation) == set(injections.FAMILIES)
    for family in injections.FAMILIES:
        assert train[family] != evaluation[family]


def test_poison_plants_the_instruction_inside_the_text_and_keeps_the_text():
    text = "Refunds take 14 days. They go to the original card. Contact support for help."
    attack = injections.attacks("eval")[0]
    canary = injections.canary_for("x")
    poisoned = injections.poison(text, attack, canary)
    assert attack.render(canary) in poisoned
    assert poisoned.startswith("Refunds take 14 days")
    assert poisoned.endswith("Contact support for help.")
    assert injections.followed(f"The answer is {canary.lower()}", canary)
    assert not injections.followed("Refunds take 14 days [1].", canary)


def test_each_case_gets_one_attack_and_the_families_are_all_used():
    picked = {injections.pick(f"case-{i}", "eval").family for i in range(30)}
    assert picked == set(injections.FAMILIES)
    assert injections.pick("case-7", "eval") == injections.pick("case-7", "eval")
