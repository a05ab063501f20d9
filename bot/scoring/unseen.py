"""Thresholds for the shipped judge, chosen on labelled rebuttals it never saw.

The out-of-fold scores ``bot calibrate`` reads come from five fold models, each trained on four
fifths of the rebuttals; the shipped judge is trained on all of them, and on answers written
later it scores higher than its fold models did (at their threshold it credited points that
were not made: docs/matcher.md). Rebuttals written after it was trained and never trained on
(``eval/rebuttals_next.yml``) are the only honest ground for its own threshold. The threshold
is chosen on all of them; the figure reported is cross-validated on them (each fold judged at the
threshold the other folds choose). A threshold for each group of positions replaces the single
one only when its cross-validated F1 is better by more than ``RULE_NOISE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.scoring.calibrate import (
    FOLDS,
    RULE_NOISE,
    Counts,
    Pair,
    choose,
    cross_validate,
    cross_validate_by_group,
    figures,
    per_point,
    sweep,
)

__all__ = ["UNSEEN_NOTE", "Unseen", "choose_unseen", "unseen_record", "unseen_text"]

UNSEEN_NOTE = "rebuttals the shipped judge never saw"


@dataclass(frozen=True)
class Unseen:
    rebuttals: int
    before: Counts
    """Figures at the threshold chosen out of fold (what the tutor used before)."""
    before_threshold: float
    threshold: float
    cross_validated: Counts
    by_group: dict[str, float]
    """Each group's threshold chosen on all of its rebuttals."""
    by_group_cross_validated: Counts
    by_group_figures: dict[str, Counts]
    """Each group's cross-validated figures under the rule adopted."""
    grouped: bool
    """Whether the thresholds of each group are adopted (better by more than ``RULE_NOISE``)."""
    points: dict[str, tuple[Counts, int]]
    """Each key point at the adopted thresholds (chosen on these very answers): counts and times made."""

    @property
    def adopted(self) -> Counts:
        return self.by_group_cross_validated if self.grouped else self.cross_validated


def _total(counts: Mapping[str, Counts]) -> Counts:
    return Counts(sum(c.tp for c in counts.values()), sum(c.fp for c in counts.values()),
                  sum(c.fn for c in counts.values()))


def choose_unseen(pairs: list[Pair], fold: list[int], group_of: Mapping[str, str], before_threshold: float,
                  folds: int = FOLDS) -> Unseen:
    """The single threshold and each group's, chosen on ``pairs``, with cross-validated figures for both."""
    of_group: dict[str, list[Pair]] = {}
    for p in pairs:
        of_group.setdefault(group_of[p.claim], []).append(p)
    threshold = choose(sweep(pairs))
    single, _ = cross_validate(pairs, fold, folds)
    by_group = {g: choose(sweep(own)) for g, own in of_group.items()}
    per_group = {g: cross_validate(own, fold, folds)[0] for g, own in of_group.items()}
    grouped_total = _total(per_group)
    grouped = len(per_group) > 1 and grouped_total.f1 > single.f1 + RULE_NOISE
    if not grouped:
        per_group = cross_validate_by_group(pairs, fold, group_of, folds)
    points: dict[str, tuple[Counts, int]] = {}
    for g, own in of_group.items():
        points.update(per_point(own, by_group[g] if grouped else threshold))
    return Unseen(
        rebuttals=len({p.rebuttal for p in pairs}),
        before=figures(pairs, before_threshold),
        before_threshold=before_threshold,
        threshold=threshold,
        cross_validated=single,
        by_group=by_group,
        by_group_cross_validated=grouped_total,
        by_group_figures=per_group,
        grouped=grouped,
        points=points,
    )


def unseen_text(result: Unseen, source: str) -> str:
    b, s, g = result.before, result.cross_validated, result.by_group_cross_validated
    groups = ", ".join(f"{name} {t:.2f}" for name, t in result.by_group.items())
    lines = [
        f"{result.rebuttals} {UNSEEN_NOTE} ({source}):",
        f"  at the out-of-fold threshold {result.before_threshold:.2f}:"
        f"      precision {b.precision:.3f} recall {b.recall:.3f} F1 {b.f1:.3f}",
        f"  one threshold ({result.threshold:.2f}), {FOLDS}-fold cross-validated:"
        f" precision {s.precision:.3f} recall {s.recall:.3f} F1 {s.f1:.3f}",
        f"  a threshold per group ({groups}), cross-validated:"
        f" precision {g.precision:.3f} recall {g.recall:.3f} F1 {g.f1:.3f}",
    ]
    lines.extend(f"    of which {name}: precision {f.precision:.3f} recall {f.recall:.3f} F1 {f.f1:.3f}"
                 for name, f in result.by_group_figures.items())
    weakest = sorted((f.f1, kp, n) for kp, (f, n) in result.points.items() if n and f.f1 < 0.6)
    lines.append("  weakest key points at those thresholds (F1, times made): "
                 + (", ".join(f"{kp} {f1:.2f}/{n}" for f1, kp, n in weakest) or "none"))
    chosen = "a threshold per group" if result.grouped else "one threshold"
    lines.append(f"  adopted for students' answers: {chosen} (per group only if better by more than {RULE_NOISE} F1)")
    return "\n".join(lines)


def unseen_record(result: Unseen, source: str) -> dict:
    """What ``knowledge/scoring.yml`` keeps of the choice: thresholds and the honest figures."""
    return {
        "threshold": result.threshold,
        **({"group_thresholds": dict(result.by_group)} if result.grouped else {}),
        "students_answers": {
            "chosen_on": source,
            "rebuttals": result.rebuttals,
            "note": (f"{UNSEEN_NOTE}: thresholds chosen on all of them, figures {FOLDS}-fold cross-validated on them"
                     " (by_key_point: at the thresholds chosen on all of them)"),
            "at_out_of_fold_threshold": {"threshold": result.before_threshold, **result.before.as_dict()},
            "one_threshold": result.cross_validated.as_dict(),
            "threshold_per_group": {**result.by_group_cross_validated.as_dict(),
                                    "thresholds": dict(result.by_group)},
            "adopted": "threshold per group" if result.grouped else "one threshold",
            "adopted_by_group": {g: f.as_dict() for g, f in result.by_group_figures.items()},
            "by_key_point": {kp: {**f.as_dict(), "made": n} for kp, (f, n) in result.points.items()},
        },
    }
