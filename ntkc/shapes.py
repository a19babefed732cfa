"""What one example looks like between layers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Shape:
    """One example's shape after a layer.

    ``spatial`` holds the sizes of the spatial axes: ``()`` for a vector,
    ``(T,)`` for a sequence, ``(H, W)`` for an image and ``(None,)`` for a
    graph, whose node count is known only from the data. ``channels`` is the
    input's channel count (the kernel does not depend on hidden widths).

    ``width`` is the finite channel count of the stream as stax's
    ``kernel_fn`` tracks it (``k.shape1[channel_axis]``): the input's
    channels, then a weight layer's ``width=`` (None where it gives none),
    multiplied by Flatten, added by Concat. Only a standard-parameterized
    weight layer reads it (its NTK term is fan-in × Σ); None means unknown.

    ``hidden`` says the stream comes out of a weight layer, so the finite
    network's channel count grows with its width; the data's (and what
    parameter-free layers make of it) stays the input's ``channels``.
    """
    kind: str  # "vector" | "sequence" | "image" | "graph"
    spatial: tuple = ()
    channels: int | None = None
    width: int | None = None
    hidden: bool = field(default=False, compare=False)  # derived from the layers

    @property
    def nspatial(self) -> int:
        return len(self.spatial)

    def with_spatial(self, spatial) -> "Shape":
        return replace(self, spatial=tuple(spatial))

    def with_width(self, width) -> "Shape":
        return replace(self, width=width)

    def describe(self) -> str:
        if self.kind == "vector":
            return "vector"
        if self.kind == "graph":
            return "graph(nodes)"
        if self.kind == "sequence":
            return f"sequence({self.spatial[0]})"
        return f"image({self.spatial[0]}x{self.spatial[1]})"

    def with_article(self) -> str:
        """``describe()`` with its article: "an image(4x4)", "a vector"."""
        text = self.describe()
        return ("an " if text[0] in "aeiou" else "a ") + text

    def batch_shape(self, n="N") -> str:
        """The array shape a batch of these examples has, for error messages."""
        c = self.channels if self.channels is not None else "C"
        if self.kind == "vector":
            return f"({n}, {c})"
        if self.kind == "graph":
            return f"({n}, V, {c})"
        return "(" + ", ".join([str(n)] + [str(s) for s in self.spatial] + [str(c)]) + ")"


VECTOR = Shape("vector")
