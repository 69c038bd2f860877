"""A field of flamingos: rows of Sketch-RNN flamingos, small at the back, big at the front.

Google's ``flamingo`` model is downloaded on first use into sketchart's model cache
(``sketchart models fetch flamingo`` does it ahead of time); set the ``model`` parameter to
any other name or to a ``.gen.json`` path to draw another field.

    vsk run examples/flamingo_field
    vsk save examples/flamingo_field -p temperature 0.4 -p seed 0..9
"""

from __future__ import annotations

import numpy as np
import vsketch

from sketchart.page.place import draw_strokes, load_engine


class FlamingoFieldSketch(vsketch.SketchClass):
    model = vsketch.Param("flamingo")
    temperature = vsketch.Param(0.2, 0.05, 1.0, step=0.05, decimals=2)
    seed = vsketch.Param(7, 0)
    rows = vsketch.Param(4, 1, 10)
    per_row = vsketch.Param(6, 1, 16)
    margin = vsketch.Param(1.5, 0.0, unit="cm")

    def draw(self, vsk: vsketch.Vsketch) -> None:
        vsk.size("a4", landscape=True)
        vsk.penWidth("0.3mm")
        # one batch for the whole page: sampling 24 flamingos at once is as fast as a few
        engine = load_engine(self.model)
        flamingos = iter(engine.sample(self.rows * self.per_row,
                                       temperature=self.temperature, seed=self.seed))
        rng = np.random.default_rng(self.seed)  # the layout follows the same seed
        depths = [0.45 + 0.55 * r / max(self.rows - 1, 1) for r in range(self.rows)]
        # row heights grow towards the front and overlap by a fifth, filling the page
        unit = (vsk.height - 2 * self.margin) / (0.8 * sum(depths) + 0.2 * depths[-1])
        step = (vsk.width - 2 * self.margin) / self.per_row
        y = self.margin
        for depth in depths:
            height = unit * depth
            for i in range(self.per_row):
                x = self.margin + (i + rng.uniform(-0.2, 0.2)) * step
                draw_strokes(vsk, next(flamingos), x, y, step, height)
            y += 0.8 * height

    def finalize(self, vsk: vsketch.Vsketch) -> None:
        vsk.vpype("linemerge linesimplify reloop linesort")


if __name__ == "__main__":
    FlamingoFieldSketch.display()
