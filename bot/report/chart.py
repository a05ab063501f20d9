"""The coverage chart: a bar per point, how many students practised it (PNG)."""

from __future__ import annotations

import io

from bot.report.statistics import Labels, PointStats


def coverage_chart(stats: list[PointStats], students: int, labels: Labels) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    names = [labels.claim(s.key) for s in stats]
    counts = [s.students for s in stats]
    narrative = [labels.point(s.key) is not None for s in stats]
    colours = ["#2b6cb0" if n else "#9f7aea" for n in narrative]
    figure = Figure(figsize=(8.5, 0.42 * len(stats) + 1.6), dpi=110, layout="constrained")
    axes = figure.subplots()
    bars = axes.barh(range(len(stats)), counts, color=colours, height=0.65)
    axes.set_yticks(range(len(stats)), names)
    axes.invert_yaxis()
    axes.bar_label(bars, labels=[f"{c} of {students}" for c in counts], padding=4, fontsize=9)
    axes.set_xlim(0, max(students, 1) * 1.18)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("students who practised the point (defended it or raised it in a prosecution)")
    axes.set_title(f"Coverage per point: {students} student{'s' if students != 1 else ''}", loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(
        handles=[
            Patch(color="#2b6cb0", label=f"the {len(labels.knowledge.narrative)} points"),
            Patch(color="#9f7aea", label="further positions"),
        ],
        loc="lower right",
        frameon=False,
        fontsize=9,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
