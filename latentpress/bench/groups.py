"""The report's four groups of curves and one distinct drawing style per curve.

Groups, in the order the report shows them:

- ``ours``: the codecs this project develops and recommends — the ``overfit`` presets,
  ``factorized`` and the lossless codecs (``lossless``, ``mlp-lossless``);
- ``learned``: the reproductions of the research reports the project started from
  (``cae*``, ``cnn-*``, ``gan-ae``, ``block-*``, ``dense-*``), kept to compare against;
- ``classic``: the libraries people use today (JPEG, JPEG 2000, WebP, AVIF, JPEG XL,
  HEIC, PNG, ...), measured here through the bench's classic adapters;
- ``published``: curves from other projects' publications (results/anchors/), drawn for
  reference and not measured here.

Styles: the line style says the group (solid, dash-dot, dotted, dashed with hollow
markers); within a group every curve gets its own colour and its own marker, so that
(colour, marker, line style) differs between any two curves of a plot.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUPS = ("ours", "learned", "classic", "published")

GROUP_TITLES = {
    "ours": "ours",
    "learned": "learned (report reproductions)",
    "classic": "classic libraries",
    "published": "published anchors (not measured here)",
}

GROUP_DESCRIPTIONS = {
    "ours": "the codecs this project develops and recommends: the overfit presets, factorized, "
            "and the lossless codecs",
    "learned": "the reproductions of the research reports the project started from (cae*, cnn-*, gan-ae, "
               "block-*, dense-*), kept as baselines; the cnn-ae family has one rate point (16:1)",
    "classic": "the libraries people use today, run here through the bench's classic adapters",
    "published": "curves published by other projects (results/anchors/README.md), drawn for reference: "
                 "not measured here",
}

_LEARNED_PREFIXES = ("cae", "cnn-", "gan-", "block-", "dense")

# Colour-blind-aware qualitative colours (tab10 without its grey and olive, plus black
# and two dark tones), eleven, and twelve markers: a group of up to eleven curves gets
# eleven different colours and markers.
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#000000", "#b8860b", "#4b0082")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*")

_GROUP_LINE = {          # matplotlib linestyle, linewidth, hollow markers
    "ours": ("-", 2.2, False),
    "learned": ("-.", 1.3, False),
    "classic": (":", 1.9, False),
    "published": ("--", 1.4, True),
}
_OFFSET = {"ours": 0, "learned": 2, "classic": 1, "published": 8}   # start in the palette per group


def group_of(name: str, family: str | None) -> str:
    """The group of a measured codec; ``family`` is meta.json's ("lpx" or "classic")."""
    if family == "classic":
        return "classic"
    if name.startswith(_LEARNED_PREFIXES):
        return "learned"
    return "ours"


@dataclass(frozen=True)
class Style:
    color: str
    marker: str
    linestyle: str           # matplotlib's: "-", "-.", ":", "--", or "none" (one point)
    linewidth: float
    hollow: bool

    def plot_kwargs(self) -> dict:
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle,
                "linewidth": self.linewidth, "markersize": 5 if self.linestyle != "none" else 7,
                "markerfacecolor": "white" if self.hollow else self.color, "markeredgecolor": self.color}


def styles(members: dict[str, list[str]], single_point: set[str] = frozenset(),
           emphasised: str | None = None) -> dict[str, Style]:
    """One style per curve. ``members``: group → curve names in drawing order;
    ``single_point``: curves of one point (markers only, no line); ``emphasised``: the
    BD-rate anchor, drawn thicker."""
    out = {}
    for group in GROUPS:
        names = members.get(group, [])
        if len(names) > min(len(PALETTE), len(MARKERS)):
            raise ValueError(f"more than {min(len(PALETTE), len(MARKERS))} curves in group {group!r}")
        linestyle, width, hollow = _GROUP_LINE[group]
        for index, name in enumerate(names):
            slot = index + _OFFSET[group]
            out[name] = Style(PALETTE[slot % len(PALETTE)], MARKERS[slot % len(MARKERS)],
                              "none" if name in single_point else linestyle,
                              width + 1.0 if name == emphasised else width, hollow)
    return out
