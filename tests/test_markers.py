"""Golden table of footnote marker styles and of footnote lines."""

import pytest

from bot.essay.footnotes import split_footnote_line
from bot.essay.markers import footnote_start, strip_markers


@pytest.mark.parametrize(
    ("raw", "clean", "numbers"),
    [
        ("first in the thirties² and then", "first in the thirties and then", [2]),
        ("to Lenin¹⁰; the October", "to Lenin; the October", [10]),
        ("abortion in 1935^3 as well", "abortion in 1935 as well", [3]),
        ("deferral to $Lenin^{14}$. At the", "deferral to Lenin. At the", [14]),
        ("remain alone^{'30} and at", "remain alone' and at", [30]),
        ("with Lenin^{56} ; by the", "with Lenin ; by the", [56]),
        ("Bukharin put it ⁵⁰.", "Bukharin put it.", [50]),
        ("54.4^{54}", "54.4", [54]),
        ("no marker at all", "no marker at all", []),
    ],
)
def test_strip_markers(raw, clean, numbers):
    text, citations = strip_markers(raw)
    assert text == clean
    assert [c.number for c in citations] == numbers


def test_citation_offsets_point_after_the_cited_word():
    text, citations = strip_markers("one¹ two² three")
    assert [text[: c.offset] for c in citations] == ["one", "one two"]


@pytest.mark.parametrize(
    ("line", "number", "rest"),
    [
        ("⁵Karl Marx, Capital", 5, "Karl Marx, Capital"),
        ("¹⁷ See Tony Cliff", 17, "See Tony Cliff"),
        (" $^{^{18}}$ Victor Serge, as above, p.59.", 18, "Victor Serge, as above, p.59."),
        (" $^{^3\\}mathrm{See}$ the discussion", 3, "See the discussion"),
        (" $^{^{25}\\}mathrm{John}$ Rees, as above", 25, "John Rees, as above"),
    ],
)
def test_footnote_start(line, number, rest):
    assert footnote_start(line) == (number, rest)


@pytest.mark.parametrize("line", ["Stalin, as he later made clear", "1913\t3.7\t100", "¹"])
def test_body_lines_do_not_start_footnotes(line):
    assert footnote_start(line) is None


def test_two_footnotes_on_one_line_split_only_at_the_next_number():
    notes = split_footnote_line(" $^{^{58}}$ Samuel Farber, 'In defence', International Socialism 55, p.87. 59 As above p.91.")
    assert [(n.number, n.text) for n in notes] == [
        (58, "Samuel Farber, 'In defence', International Socialism 55, p.87."),
        (59, "As above p.91."),
    ]
    notes = split_footnote_line("⁶⁰Simon Pirani, International Socialism 128. ⁶¹These issues have.")
    assert [n.number for n in notes] == [60, 61]
    # "p. 59" is a page number, not footnote 59, when the line opens footnote 40.
    assert len(split_footnote_line("⁴⁰Victor Serge, as above, p. 59 and on.")) == 1


def test_a_url_broken_at_a_slash_is_rejoined():
    (note,) = split_footnote_line("¹⁹Lenin, Collected Works https://www.marxists.org/archive/lenin/works/1917/nov/ 06a.htm")
    assert note.url == "https://www.marxists.org/archive/lenin/works/1917/nov/06a.htm"


def test_trailing_punctuation_is_not_part_of_a_url():
    (note,) = split_footnote_line("⁶See http://socialistreview.org.uk/390/do-revolutions-always-fail.")
    assert note.url == "http://socialistreview.org.uk/390/do-revolutions-always-fail"
