"""The essay parser, pinned to facts of this essay and to each extraction artefact met."""

import re

import pytest

from bot.essay.markers import SUPERSCRIPT_DIGITS
from bot.essay.parse import Corrections, EssayFormatError, load_essay, parse_essay

SECTIONS = [
    "The Nightmare of Stalinism",
    "The Continuity Thesis",
    "The Continuity Thesis Assessed",
    "Stalinism as Counterrevolution",
    "Will It Happen Again?",
]
# Text left by a footnote marker or a footnote body that leaked into the essay's body.
LEAKS = re.compile(rf"[{SUPERSCRIPT_DIGITS}]|\^\{{|\$|\\mathrm|Collected Works|as above, p")


@pytest.fixture(scope="module")
def essay():
    return load_essay()


def text_of(essay, fragment):
    hits = [b for b in essay.blocks if fragment in b.text]
    assert len(hits) == 1, f"{fragment!r} in {len(hits)} blocks"
    return hits[0]


def test_sections_are_the_essays_headings(essay):
    assert [s.title for s in essay.sections] == SECTIONS
    assert all(s.block_ids for s in essay.sections)


def test_footnotes_one_to_sixty_one_with_54_and_55_missing(essay):
    assert sorted(essay.footnotes) == list(range(1, 62))
    assert essay.missing_footnotes == (54, 55)
    for number, note in essay.footnotes.items():
        assert note.missing == (number in (54, 55))
        assert bool(note.text) != note.missing, number


def test_footnote_19_carries_its_marxists_org_url(essay):
    assert essay.footnotes[19].url == "https://www.marxists.org/archive/lenin/works/1917/nov/06a.htm"


def test_footnote_35_starts_with_serges_memoirs(essay):
    assert essay.footnotes[35].text.startswith("Victor Serge, Memoirs of a Revolutionary")


@pytest.mark.parametrize(
    ("number", "start"),
    [
        (3, "See the discussion of this 'thrice shameful law'"),  # $^{^3\}mathrm{See}$
        (5, "Karl Marx, Capital"),  # glued: ⁵Karl Marx
        (18, "Victor Serge, as above, p.59."),  # $^{^{18}}$
        (25, "John Rees, as above, p.31."),  # $^{^{25}\}mathrm{John}$
        (17, "See Tony Cliff, Lenin"),  # ¹⁷ See (space after the marker)
        (59, "As above p.91."),  # shares a line with 58 as a bare number
        (61, "These issues have in fact been debated"),  # shares a line with 60 as a superscript
    ],
)
def test_every_marker_style_of_footnote_starts(essay, number, start):
    assert essay.footnotes[number].text.startswith(start)


def test_footnotes_sharing_a_line_are_split(essay):
    assert essay.footnotes[58].text.endswith("International Socialism 55, p.87.")
    assert essay.footnotes[60].text.endswith("International Socialism 128.")


def test_every_footnote_is_cited_once_and_every_citation_resolves(essay):
    cited = [n for b in essay.blocks for n in b.footnotes]
    assert sorted(cited) == list(range(1, 62))
    for block in essay.blocks:
        for citation in block.citations:
            assert 0 <= citation.offset <= len(block.text)
            assert citation.number in essay.footnotes


@pytest.mark.parametrize(
    ("fragment", "number"),
    [
        ("recriminalised abortion in 1935", 3),  # 1935^3
        ("no automatic deferral to Lenin", 14),  # $Lenin^{14}$
        ("if it were to remain alone'", 30),  # alone^{'30}
        ("connection with the Revolution and with Lenin;", 56),  # Lenin^{56} ;
        ("of dubious traditions.", 18),  # bare "traditions 18", repaired by corrections.yml
        ("Bukharin put it.", 50),  # "put it ⁵⁰."
    ],
)
def test_body_marker_styles_become_citations(essay, fragment, number):
    assert number in text_of(essay, fragment).footnotes


def test_no_block_contains_footnote_text_or_markers(essay):
    bodies = [n.text for n in essay.footnotes.values() if len(n.text) > 25]
    for block in essay.blocks:
        assert not LEAKS.search(block.text), (block.id, LEAKS.search(block.text))
        for body in bodies:
            assert body[:40] not in block.text, (block.id, body[:40])


def test_the_six_continuity_points_are_six_list_items(essay):
    lists = [b for b in essay.blocks if b.kind == "list"]
    assert len(lists) == 1
    items = lists[0].items
    assert len(items) == 6
    assert items[0].startswith("Lenin was, from the outset, a deeply authoritarian personality")
    # Point 6 continues after footnote 6 interrupts it.
    assert items[5].endswith("single party rule in a police state: witness Eastern Europe, China, North Korea, Cuba, Vietnam.")


@pytest.mark.parametrize(
    "joined",
    [
        "to the application of Leninist doctrine.",  # appli- / footnotes 7-9 / cation
        "the Cheka (All-Russian Emergency Commission",  # All- / footnotes / Russian: hyphen kept
        "the gravest and most impermissible errors that the Bolshevik leaders committed",
        "as well as direct military intervention",  # di- / footnotes / rect
        "The debate on this question has raged since at least the 1930s",  # heading-like break
        "reinforced by a key idea in bourgeois ideology",
        "by autumn 1918. Hyperinflation raged",  # continues with a year
        "the success of the Soviet uprising in the Ukraine open up",  # quotation across footnotes
    ],
)
def test_paragraphs_rejoined_across_page_breaks(essay, joined):
    assert text_of(essay, joined)


@pytest.mark.parametrize(
    ("fragment", "right"),
    [
        ("right to strike were non-existent. Trade unions existed, of course, but", "interleaved columns"),
        ("headed by Lenin. These facts are what make this component", "interleaved columns"),
        ("harsh and dictatorial measures. In order to deal with the famine and prevent", "split word"),
        ("encouraged anti-Semitism.", "space after hyphen"),
    ],
)
def test_corrections_repair_what_rules_cannot(essay, fragment, right):
    assert text_of(essay, fragment), right


def test_emphasis_asterisks_go_even_before_a_footnote_marker(essay):
    # "*ad infinitum*⁶¹": the marker is still there when emphasis is removed.
    block = text_of(essay, "And so on ad infinitum. But what really matters")
    assert block.footnotes == (61,)
    assert not [b.id for b in essay.blocks if "*" in b.text]
    parsed = parse_essay("So on *ad infinitum*⁶¹. And *so*^{2} on.\n", Corrections((), ()))
    (only,) = parsed.blocks
    assert only.text == "So on ad infinitum. And so on."
    assert [only.text[: c.offset] for c in only.citations] == ["So on ad infinitum", "So on ad infinitum. And so"]


@pytest.mark.parametrize(
    "fragment",
    [
        "escalated into full-scale war",
        "a model non-bureaucratic socialist democracy",
        "Bukharin and the pro-peasant right",
    ],
)
def test_hyphens_lost_in_the_source_are_restored(essay, fragment):
    assert text_of(essay, fragment)


def test_typos_in_footnotes_are_repaired(essay):
    assert "Possibly, but the matter was complex" in essay.footnotes[35].text
    assert essay.footnotes[36].text.startswith("See Lenin, Collected Works, Vol. 32, p. 173.")


@pytest.mark.parametrize(
    "fragment",
    [
        "paralleled by the Nietzsche/Foucault view of history",
        "opted for the Bolsheviks/Communists, which",
        "socialism is dictatorship/all revolutions lead to tyranny",
    ],
)
def test_a_space_after_a_slash_between_words_is_removed(essay, fragment):
    assert text_of(essay, fragment)


def test_a_space_after_a_slash_in_a_url_is_left_alone():
    (block,) = parse_essay("See www.example.org/ Then and/ or http://a.org/b/ c here.\n", Corrections((), ())).blocks
    assert block.text == "See www.example.org/ Then and/or http://a.org/b/ c here."


@pytest.mark.parametrize(
    "fragment",
    [
        "dissolved the Assembly by force in January [1918], so taking",
        "has just taken place in Petrograd[,] Moscow and the whole of Russia.",
        # The armistice clauses Serge quotes, and Rees's words, were never closed.
        "may be kept in the military academies[.] The MRC guarantees the ... liberty and inviolability of all.['] Such were",
        "As John Rees says, 'In all, the Finnish White Terror",
        "Isaac Deutscher 'the great change['] and by many others 'the third revolution['] and the 'revolution from above'.",
        "the MRC [Military Revolutionary Committee –JM] decided",
    ],
)
def test_errors_of_the_source_are_repaired_with_editorial_marks(essay, fragment):
    assert text_of(essay, fragment)


def test_the_rees_quotation_closes_before_its_footnote(essay):
    block = text_of(essay, "the Finnish White Terror claimed the lives of 23,000 Reds.")
    assert block.text.endswith("steeled their hearts during the civil war.[']")
    assert block.footnotes == (22,) and block.citations[-1].offset == len(block.text)


def test_block_quotes_are_quotes_attributed_to_the_paragraph_introducing_them(essay):
    serge = text_of(essay, "the formation of the Cheka was one of the gravest")
    assert serge.kind == "quote"
    assert serge.footnotes == (35,)
    intro = essay.block(serge.introduced_by)
    assert intro.kind == "paragraph" and intro.text.endswith("Serge writes:")
    # A quotation that lost its '>' in the extraction, and one merged across paragraphs.
    assert text_of(essay, "Foolish clemency!").kind == "quote"
    merged = text_of(essay, "Can we save the situation?")
    assert merged.kind == "quote" and "\n\n" in merged.text and merged.footnotes == (29,)
    for block in essay.blocks:
        assert (block.introduced_by is not None) == (block.kind == "quote" and block.id != essay.blocks[0].id)


def test_consecutive_quotations_split_at_their_footnotes(essay):
    first = text_of(essay, "We are faced by disaster")
    second = text_of(essay, "The first six months of 1919")
    assert first is not second
    assert first.footnotes == (27,) and second.footnotes == (28,)


def test_tables_stay_readable(essay):
    tables = [b for b in essay.blocks if b.kind == "table"]
    assert [t.footnotes for t in tables] == [(54,), (55,)]
    assert tables[0].text.splitlines()[:3] == [
        "Table 1. 'Food baskets' per monthly wage",
        "Year | Number | Index",
        "1913 | 3.7 | 100",
    ]
    assert "Year | Means of Production | Means of Consumption" in tables[1].text
    assert "1940 | 61.0 | 39.0" in tables[1].text


def test_spans_point_back_into_the_source(essay):
    from bot.settings import KNOWLEDGE_DIR

    raw = (KNOWLEDGE_DIR / "molyneux-does-leninism-lead-to-stalinism.txt").read_text(encoding="utf-8")
    for block in essay.blocks:
        start, end = block.span
        words = re.findall(r"[A-Za-z]{5,}", block.text)[:3]
        assert all(w in raw[start:end] for w in words), block.id


def test_ids_are_unique_and_stable(essay):
    ids = [b.id for b in essay.blocks]
    assert len(ids) == len(set(ids))
    assert text_of(essay, "The notion of Lenin's power-seeking motives").id == "continuity-thesis-08"


def test_a_correction_that_no_longer_matches_fails_loudly():
    with pytest.raises(EssayFormatError, match="matches 0 times"):
        parse_essay("Some text.\n", Corrections((("missing words", "x"),), ()))


def test_an_unknown_quote_opening_fails_loudly():
    with pytest.raises(EssayFormatError, match="not found"):
        parse_essay("A paragraph.\n", Corrections((), ("Nowhere to be seen",)))
