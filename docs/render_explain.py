"""Render the images in docs/explain.md: each network's kernel recursion, as
``ntkc explain`` prints it, drawn with matplotlib's mathtext (no TeX needed).

    python docs/render_explain.py            # writes docs/explain_*.png

The sources below are the ones shown in docs/explain.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ntkc  # noqa: E402
from ntkc.explain import explain  # noqa: E402
from ntkc.symbolic import latex  # noqa: E402

EXAMPLES = {
    "mlp": """input vector(dim=8)
net mlp {
    Dense(W_std=1.5, b_std=0.05)
    Relu
    Dense(W_std=1.5, b_std=0.05)
}""",
    "cnn": """input image(height=8, width=8, channels=3)
net cnn_gap {
    Conv(kernel=3, W_std=sqrt(2), b_std=0.1)
    Relu
    GlobalAvgPool
    Dense
}""",
    "gntk": """input graph(features=7)
net gntk_block {
    Dense(W_std=sqrt(14))
    GraphAgg(self_loops=true, norm="mean")
    Relu
    Dense(W_std=sqrt(2))
    GlobalSumPool
}""",
    "residual": """input vector(dim=8)
net resnet {
    Dense(W_std=1.4, b_std=0.05)
    Residual(alpha=0.5) {
        Relu
        Dense(W_std=1.4, b_std=0.05)
    }
}""",
    "expand": """input vector(dim=3)
net one_hidden {
    Dense(W_std=1)
    Relu
    Dense(W_std=1)
}""",
}


def lines_of(expl):
    """(kind, string) per drawn line: step headings, equations, notes."""
    out = []
    for step in expl.steps:
        out.append(("title", step.title + step.where))
        for eq in step.equations:
            out.append(("eq", f"${latex(eq.lhs)} = {latex(eq.rhs)}$"))
        for note in step.notes:
            out.append(("note", "where " + note))
    return out


def render(expl, path, fontsize=13, dpi=110):
    """Draw the lines top to bottom. Each line is measured first (mathtext
    fractions and sums are taller than text), then the figure is sized to fit."""
    style = {"title": dict(fontsize=fontsize, weight="bold", color="#1f3b73"),
             "eq": dict(fontsize=fontsize),
             "note": dict(fontsize=fontsize - 2, style="italic", color="#555555")}
    lines = lines_of(expl)
    scratch = plt.figure(dpi=dpi)
    renderer = scratch.canvas.get_renderer()
    sizes = []
    for kind, text in lines:
        box = scratch.text(0, 0, text, **style[kind]).get_window_extent(renderer)
        sizes.append((box.width / dpi, box.height / dpi))
    plt.close(scratch)
    indent, gap, pad = 0.3, 0.1, 0.2
    heights = [h + gap + (0.2 if kind == "title" and i else 0)
               for i, ((kind, _), (_, h)) in enumerate(zip(lines, sizes))]
    width = max(w + (indent if kind != "title" else 0) for (kind, _), (w, _) in zip(lines, sizes))
    total = sum(heights)
    fig = plt.figure(figsize=(width + 2 * pad, total + 2 * pad), dpi=dpi)
    y = total + pad
    for (kind, text), h, (_, own) in zip(lines, heights, sizes):
        y -= h - own - gap
        fig.text(pad + (indent if kind != "title" else 0), y, text, va="top", ha="left",
                 transform=fig.dpi_scale_trans, **style[kind])
        y -= own + gap
    fig.savefig(path, facecolor="white")
    plt.close(fig)


def main():
    for name, source in EXAMPLES.items():
        expl = explain(ntkc.check_source(source, filename=f"{name}.ntk"))
        if name == "expand":
            expl = expl.expand()
        path = HERE / f"explain_{name}.png"
        render(expl, path)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
