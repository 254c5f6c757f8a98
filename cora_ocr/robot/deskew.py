"""Small skew (up to ±15°): found by projection profiles, corrected before recognition, and
the boxes found on the corrected page turned back onto the page as delivered.

The angle is the one at which the ink's row (or column, for a page on its side) profile is
the most sharply varying: text lines then fall into rows of their own, with blank rows
between (the method of Postl, as Leptonica's pixFindSkew and unpaper use it). It is searched
coarse to fine on a shrunken copy: about 60 ms for an A4 page, next to seconds of
recognition. Turns by 90°, 180° and 270° are Tesseract's own orientation detection (OSD).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from PIL import Image, ImageOps

Box = tuple[int, int, int, int]  # left, top, right, bottom

MAX_SKEW = 15.0
# Skews smaller than this are left to Tesseract, whose line finding copes with them, and
# turning the page would only blur it.
MIN_CORRECTION = 0.5
# How much sharper the profile must be at the best angle than at 0 degrees before a page is
# turned. Measured on generated pages: straight ones of every shape (2-line labels, a single
# line, receipt strips, business cards, A4) reach at most 1.4 (a 2-line label's few rows make
# any angle look about as good); an A4 page skewed by 2 degrees reaches 4, by 3 degrees 11.
# Below this the page is read as it is: Tesseract reads skews under 2 degrees without loss,
# and a small page's weak evidence is no reason to turn it. At the former 1.1, 7 of 40 straight
# 760 x 148 labels were turned by about 4 degrees; at 2.0 none is, and all 40 A4 pages skewed
# by 2 to 8 degrees either way are still found.
MIN_EVIDENCE = 2.0


def _sharpness(ink: Image.Image) -> int:
    """How sharply the row or the column sums vary, whichever is sharper."""
    best = 0
    for size in ((1, ink.height), (ink.width, 1)):
        sums = ink.resize(size, Image.Resampling.BOX).tobytes()
        best = max(best, sum((b - a) ** 2 for a, b in itertools.pairwise(sums)))
    return best


def _shrunk(image: Image.Image, longest: int) -> Image.Image:
    scale = longest / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def find_skew(image: Image.Image, limit: float = MAX_SKEW) -> float:
    """The angle (degrees, counter-clockwise, as `Image.rotate` takes it) that straightens
    the page's text lines; 0.0 when there is no clear answer (a blank page, a photo, a page
    too small for its lines to tell: MIN_EVIDENCE)."""
    ink = ImageOps.invert(image.convert("L"))  # ink is bright, and a turn's corners add none
    coarse, fine = _shrunk(ink, 300), _shrunk(ink, 600)

    def search(picture: Image.Image, centre: float, span: float, step: float) -> dict[float, int]:
        count = round(span / step)
        angles = (centre + k * step for k in range(-count, count + 1))
        return {
            angle: _sharpness(picture.rotate(angle, resample=Image.Resampling.NEAREST))
            for angle in angles
        }

    scores = search(coarse, 0.0, limit, 1.0)
    best = max(scores, key=scores.__getitem__)
    if scores[best] == 0 or scores[best] < MIN_EVIDENCE * scores[0.0]:
        return 0.0  # no angle stands out clearly from the page as it is
    for span, step in ((1.0, 0.5), (0.4, 0.1)):
        scores = search(fine, best, span, step)
        best = max(scores, key=scores.__getitem__)
    return round(best, 1)


@dataclass(frozen=True)
class Turn:
    """A page turned by `angle` degrees about its centre, grown to hold all of it: maps
    boxes on the turned page back onto the page as delivered."""

    angle: float
    width: int  # the page as delivered
    height: int
    turned_width: int
    turned_height: int

    @classmethod
    def of(cls, image: Image.Image, angle: float) -> tuple[Turn, Image.Image]:
        turned = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
        return cls(angle, image.width, image.height, turned.width, turned.height), turned

    def point_back(self, x: float, y: float) -> tuple[float, float]:
        theta = math.radians(self.angle)
        dx, dy = x - self.turned_width / 2, y - self.turned_height / 2
        # Image.rotate turns counter-clockwise as seen (y points down); this is the inverse.
        ox = dx * math.cos(theta) - dy * math.sin(theta)
        oy = dx * math.sin(theta) + dy * math.cos(theta)
        return ox + self.width / 2, oy + self.height / 2

    def box_back(self, box: Box) -> Box:
        """The smallest box on the delivered page holding the turned-back box."""
        left, top, right, bottom = box
        corners = [self.point_back(x, y) for x in (left, right) for y in (top, bottom)]
        xs, ys = [x for x, _ in corners], [y for _, y in corners]
        return (
            max(0, math.floor(min(xs))),
            max(0, math.floor(min(ys))),
            min(self.width, math.ceil(max(xs))),
            min(self.height, math.ceil(max(ys))),
        )

    def hocr_back(self, hocr: str) -> str:
        """Every `bbox` of an hOCR fragment turned back."""

        def back(match: re.Match[str]) -> str:
            box = self.box_back(tuple(int(v) for v in match.groups()))  # type: ignore[arg-type]
            return "bbox {} {} {} {}".format(*box)

        return _BBOX.sub(back, hocr)


_BBOX = re.compile(r"\bbbox (-?\d+) (-?\d+) (-?\d+) (-?\d+)")
