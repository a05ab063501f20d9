"""Quoting whole sentences: boundaries, abbreviations, quotations inside passages, tables, compact sources."""

from __future__ import annotations

import pytest

from bot.tutoring.focus import Focuser, salient_terms, units_of
from bot.tutoring.quoting import ELLIPSIS, compact_source, join_quote, sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One thing happened. Then another! Did it? Yes.", ["One thing happened.", "Then another!", "Did it?", "Yes."]),
        ("See Vol. 3, p. 12 for this. It is clear.", ["See Vol. 3, p. 12 for this.", "It is clear."]),
        ("V. I. Lenin and C.L.R. James wrote it. Both agreed.", ["V. I. Lenin and C.L.R. James wrote it.", "Both agreed."]),
        ("It means more children (i.e. larger families). So it goes.",
         ["It means more children (i.e. larger families).", "So it goes."]),
        ("He wrote: 'We must act. There is no time.' Nobody listened.",
         ["He wrote: 'We must act. There is no time.'", "Nobody listened."]),
        ("Serge's view, in Lenin's words, was 'foolish clemency!' and it stuck. Next.",
         ["Serge's view, in Lenin's words, was 'foolish clemency!' and it stuck.", "Next."]),
        ("The figure was 3.7 in 1913. It fell to 1.9.", ["The figure was 3.7 in 1913.", "It fell to 1.9."]),
        ("no full stop at all", ["no full stop at all"]),
        ("First line ends\nSecond line.", ["First line ends", "Second line."]),
    ],
)
def test_sentences_are_whole(text, expected):
    assert sentences(text) == expected


def test_a_table_or_a_list_is_never_cut_into_sentences():
    table = "Table 1. Wages\nYear | Index\n1913 | 100\n1928 | 151.4"
    assert sentences(table, "table") == [table]
    assert units_of("1. First point.\n2. Second point. More.", "list") == ["1. First point.", "2. Second point. More."]


def test_skipped_sentences_are_marked_and_order_is_kept():
    units = ["A.", "B.", "C.", "D."]
    assert join_quote(units, [2, 0]) == f"A. {ELLIPSIS} C. {ELLIPSIS}"
    assert join_quote(units, [1, 2]) == f"{ELLIPSIS} B. C. {ELLIPSIS}"
    assert join_quote(units, [0, 1, 2, 3]) == "A. B. C. D."


@pytest.mark.parametrize(
    ("note", "compact"),
    [
        ("See the evidence on this point in John Molyneux, 'In Defence of Leninism', Irish Marxist Review 3.",
         "[10] John Molyneux, In Defence of Leninism"),
        ("Victor Serge, Year One of the Russian Revolution, London, 1992, p.76.",
         "[10] Victor Serge, Year One of the Russian Revolution"),
        ("See John Rees 'In Defence of October', International Socialism 52.", "[10] John Rees, In Defence of October"),
        ("Lenin, Collected Works, Vol. 26, p.304.", "[10] Lenin, Collected Works"),
        ("E.H. Carr, The Bolshevik Revolution 1917-23, Vol.3, London.", "[10] E.H. Carr, The Bolshevik Revolution 1917-23"),
        ("The likes of Zinoviev, Kamenev, Radek and Bukharin, all of them killed in the purges of the thirties.",
         "[10] The likes of Zinoviev, Kamenev, Radek and Bukharin, all of them…"),
        ("Short note.", "[10] Short note."),
    ],
)
def test_compact_sources_name_the_author_and_a_short_title(note, compact):
    assert compact_source(10, note) == compact


def test_as_above_takes_the_title_last_cited_for_that_author():
    earlier: dict[str, str] = {}
    compact_source(1, "Victor Serge, Year One of the Russian Revolution, London, 1992.", earlier=earlier)
    again = compact_source(2, "Victor Serge, as above, p.76.", earlier=earlier)
    assert again == "[2] Victor Serge, Year One of the Russian Revolution"


def test_question_words_are_the_content_words():
    assert salient_terms("Who was Victor Serge?") == {"victor", "serge"}
    assert salient_terms("what does the essay say about the NEP") == {"nep"}


class Words:
    """Bag-of-words vectors: a stand-in encoder that needs no model."""

    def encode(self, texts):
        import numpy as np

        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in salient_terms(text):
                out[row, sum(map(ord, word)) % 64] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_the_quote_is_the_sentences_that_make_the_point_nearest_the_student():
    passage = ("The weather was cold that winter. Workers supported the soviets in their millions. "
               "The harvest failed in the south. The party had a majority in the congress of soviets.")
    points = {"k1": "workers supported the soviets", "k2": "harvest failed south"}
    focus = Focuser(Words(), threshold=0.5).for_points(passage, "paragraph", points, "did workers support soviets")
    assert focus.lead_id == "k1" and focus.lead == points["k1"]
    assert "Workers supported the soviets in their millions." in focus.quote
    assert "weather" not in focus.quote and ELLIPSIS in focus.quote
    other = Focuser(Words(), threshold=0.5).for_points(passage, "paragraph", points, "the harvest in the south")
    assert other.lead_id == "k2"


def test_a_question_is_answered_from_the_sentences_naming_what_it_asks_about():
    passage = ("Many people wrote about the revolution. Victor Serge was an anarchist who joined the Bolsheviks. "
               "Others stayed away.")
    focus = Focuser(Words()).for_question(passage, "paragraph", "Who was Victor Serge?")
    assert focus.quote.startswith(ELLIPSIS) and "Victor Serge was an anarchist" in focus.quote


def test_passages_prepared_at_start_are_embedded_once_in_one_batch_with_the_same_answers():
    class Counting(Words):
        def __init__(self):
            self.calls = []

        def encode(self, texts):
            self.calls.append(list(texts))
            return super().encode(texts)

    passages = [
        ("Many people wrote about the revolution. Victor Serge was an anarchist who joined the Bolsheviks.", "paragraph"),
        ("The weather was cold that winter. Workers supported the soviets in their millions.", "paragraph"),
        ("", "paragraph"),
    ]
    encoder = Counting()
    focuser = Focuser(encoder)
    assert focuser.prepare(passages) == 2 and len(encoder.calls) == 1 and len(encoder.calls[0]) == 4
    assert focuser.prepare(passages) == 0 and len(encoder.calls) == 1
    prepared = focuser.for_question(passages[0][0], "paragraph", "Who was Victor Serge?")
    assert len(encoder.calls) == 2  # the question only
    assert prepared == Focuser(Words()).for_question(passages[0][0], "paragraph", "Who was Victor Serge?")


class OverlapJudge:
    """Word overlap as a pair judge, counting the pairs it reads; ``name`` stands for its weights."""

    def __init__(self, name: str = "weights-a") -> None:
        self.name = name
        self.pairs = 0

    def score(self, pairs):
        import numpy as np

        self.pairs += len(pairs)
        return np.array([len(salient_terms(a) & salient_terms(b)) / max(1, len(salient_terms(b))) for a, b in pairs],
                        dtype=np.float32)

    def fingerprint(self) -> str:
        return self.name


class PrecisionJudge(OverlapJudge):
    """The same weights computing in another precision: another fingerprint, the same identity."""

    def __init__(self, name: str = "weights-a", precision: str = "bfloat16") -> None:
        super().__init__(name)
        self.precision = precision

    def identity(self) -> str:
        return self.name

    def fingerprint(self) -> str:
        return f"{self.name}:{self.precision}"


def test_a_shipped_table_serves_the_same_weights_at_any_precision_and_a_kept_file_only_its_own(tmp_path):
    import numpy as np

    passage = "Workers supported the soviets in their millions. The harvest failed in the south."
    points = ["workers supported the soviets", "harvest failed south"]
    reference = Focuser(Words(), PrecisionJudge(precision="float32"))
    matrix = reference.support(passage, "paragraph", points)
    reference.save(tmp_path / "shipped.json", shipped=True)
    reference.save(tmp_path / "kept.json")

    other = Focuser(Words(), PrecisionJudge(precision="bfloat16"))
    assert other.load(tmp_path / "kept.json") == 0
    assert other.load(tmp_path / "shipped.json", shipped=True) == 1
    assert np.allclose(other.support(passage, "paragraph", points), matrix, atol=1e-5)
    assert other.judge.pairs == 0 and other.fresh == 0
    assert Focuser(Words(), PrecisionJudge("weights-b")).load(tmp_path / "shipped.json", shipped=True) == 0


def test_a_sentence_and_key_point_pair_is_judged_once_whatever_set_of_points_it_comes_in():
    passage = "Workers supported the soviets in their millions. The harvest failed in the south."
    claim = ["workers supported the soviets", "harvest failed south"]
    charge = ["the soviets had workers' support", *claim]
    judge = OverlapJudge()
    focuser = Focuser(Words(), judge)
    focuser.support(passage, "paragraph", claim)
    first = judge.pairs
    focuser.support(passage, "paragraph", charge)
    assert judge.pairs - first == 2  # only the new point's two shortlisted sentences
    assert focuser.fresh == 2 and focuser.supported == 2


def test_judged_sentences_are_kept_between_starts_for_the_same_judge_only(tmp_path):
    import numpy as np

    passage = ("The weather was cold that winter. Workers supported the soviets in their millions. "
               "The harvest failed in the south. The party had a majority in the congress of soviets.")
    points = ["workers supported the soviets", "harvest failed south"]
    kept = tmp_path / "focus.json"
    judge = OverlapJudge()
    first = Focuser(Words(), judge)
    matrix = first.support(passage, "paragraph", points)
    assert judge.pairs > 0 and first.fresh == 1
    first.save(kept)

    again = Focuser(Words(), OverlapJudge())
    judge_again = again.judge
    assert again.load(kept) == 1
    assert np.allclose(again.support(passage, "paragraph", points), matrix, atol=1e-5)
    assert judge_again.pairs == 0 and again.fresh == 0
    other_points = again.support(passage, "paragraph", points[:1])  # not kept: judged now
    assert judge_again.pairs > 0 and other_points.shape[1] == 1

    retrained = Focuser(Words(), OverlapJudge("weights-b"))
    assert retrained.load(kept) == 0
    retrained.support(passage, "paragraph", points)
    assert retrained.judge.pairs > 0

    kept.write_text("[not a record", encoding="utf-8")
    broken = Focuser(Words(), OverlapJudge())
    assert broken.load(kept) == 0
    assert np.allclose(broken.support(passage, "paragraph", points), matrix, atol=1e-5)


def test_a_quotation_asked_about_again_is_not_judged_again():
    judge = OverlapJudge()
    focuser = Focuser(Words(), judge)
    point = "workers supported soviets"
    pairs = [("Workers supported the soviets.", point), ("The harvest failed.", point)]
    first = focuser.judged(pairs)
    assert judge.pairs == 2 and first[0] > first[1]
    assert focuser.judged(list(reversed(pairs))) == list(reversed(first)) and judge.pairs == 2
