"""Sheep latent space on an A3 page: a grid that morphs between four random sheep.

The shipped ``sheep`` model is a VAE: every cell decodes a latent vector bilinear between
the four corners', so neighbouring sheep look alike. The seed picks the corners and the
pen's wobble; the whole page is one batch.

    vsk run examples/sheep_interpolation
    vsk save examples/sheep_interpolation -p seed 3
"""

from __future__ import annotations

import vsketch

from sketchart.page.place import cell_boxes, draw_interpolation


class SheepInterpolationSketch(vsketch.SketchClass):
    temperature = vsketch.Param(0.2, 0.05, 1.0, step=0.05, decimals=2)
    seed = vsketch.Param(1, 0)
    rows = vsketch.Param(8, 1, 20)
    cols = vsketch.Param(6, 1, 20)
    margin = vsketch.Param(2.0, 0.0, unit="cm")
    gap = vsketch.Param(0.4, 0.0, unit="cm")
    frames = vsketch.Param(False)

    def draw(self, vsk: vsketch.Vsketch) -> None:
        vsk.size("a3")
        vsk.penWidth("0.3mm")
        box = (self.margin, self.margin, vsk.width - 2 * self.margin,
               vsk.height - 2 * self.margin)
        draw_interpolation(vsk, "sheep", *box, self.rows, self.cols, gap=self.gap,
                           temperature=self.temperature, seed=self.seed)
        if self.frames:  # a second pen for the cells, e.g. a light grey
            vsk.stroke(2)
            for x, y, w, h in cell_boxes(*box, self.rows, self.cols, self.gap):
                vsk.rect(x, y, w, h)

    def finalize(self, vsk: vsketch.Vsketch) -> None:
        vsk.vpype("linemerge linesimplify reloop linesort")


if __name__ == "__main__":
    SheepInterpolationSketch.display()
