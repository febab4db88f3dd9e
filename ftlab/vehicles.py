"""A synthetic street world: small procedural pictures of vehicles and other things.

Fine-tuning needs two tasks: a big *source* task to pre-train on and a small *target* task
to adapt to. Real photos would need a download; this module draws its own, offline, in a
fraction of a second, so every experiment in the course can run anywhere.

The world
---------
Every picture shows one object standing on the ground, seen from the side, in one of ten
classes (:data:`CLASS_NAMES`)::

    car  truck  bus  van  motorbike  bicycle  person  tree  house  boat

The classes share parts on purpose, as real ones do. A **car** is a low body (a saloon
or a taller SUV) with a sloping glass cabin on top and two wheels. A **truck** is a cab
plus a tall cargo box, long or short, and three wheels. A **bus** is one long box with a
row of windows, a **van** one boxy volume with a sloping nose. Motorbikes and bicycles
may carry a rider (a person). So a network that has learnt "wheels", "windows" and
"boxy body" on the other classes has features that help it to tell a truck from a car
after seeing only a few trucks: the course's transfer-learning task (pre-train on
everything except trucks, then fine-tune on a handful of car and truck pictures).

To keep the task honest every picture varies: object colour, size, position and facing
(horizontal flip); the background (sky, horizon height, road/grass/dirt/pavement, distant
skyline, road markings); clutter (small distractor shapes behind and in front); partial
occlusion (a post or a bush in front); lighting (brightness, contrast, colour cast); blur
and pixel noise. Styles (:data:`STYLES`) shift the whole domain: ``"day"``, ``"dusk"``
(warm and darker), ``"night"`` (dark, with glowing headlights and lit windows) and
``"fog"`` (washed out toward grey, low contrast, soft).

How a picture is made
---------------------
Shapes are drawn with numpy masks (rectangles with rounded corners, circles, rings,
ellipses, convex polygons, thick line segments) in an object frame: ``u`` to the right in
object units, ``v`` up from the ground line. Edges are anti-aliased by turning a signed
distance into a coverage value. Each image draws its random numbers from its own
generator, ``numpy.random.default_rng([seed, stream, class_index, image_index])``, so:

* the same arguments give bit-identical arrays on every run (on one machine and numpy
  version);
* image ``i`` of a class does not depend on how many images you ask for
  (``make_images(n_per_class=50)`` is a prefix of ``n_per_class=100`` before shuffling);
* the same ``seed`` in another ``style`` is the same scene, lit differently;
* :func:`splits` uses a different ``stream`` per split, so test pictures are never
  training pictures.

All images of one class are drawn together, vectorised over the batch, so rendering is
fast. measured: 3,300 images/s at 32x32 (2,500 at night) and 900 images/s at 64x64 per
CPU second on one core (x86_64, numpy 2.4.6), command:
``python benchmarks/render_speed.py`` (it writes ``benchmarks/results/render_speed.md``).

How hard is it?
---------------
Measured once (2 CPU cores, Keras 3.15), with a small CNN (rescaling, three
conv-batchnorm-ReLU-maxpool blocks of 32/64/128 filters, global average pooling, dense):

* trained for 8 epochs on 1,500 pictures of each of the 9 classes other than truck, it
  scores 0.91 on 300 new pictures per class (motorbike/bicycle and car/van are the usual
  confusions);
* trained from scratch on 20 cars and 20 trucks, it scores 0.51-0.69 on 500 new car and
  truck pictures (five draws of the 40 pictures);
* fine-tuned from the 9-class network on the same 40 pictures, it scores 0.95-0.98.

Images are uint8 ``[N, H, W, 3]`` (0..255), 32x32 by default like CIFAR-10, so the same
models take real photos too: :func:`load_cifar10` (CIFAR-10 ``automobile``/``truck``
through tensorflow-datasets, needs a download once) and :func:`load_photos` (your own
folder of pictures).

Example::

    from ftlab import vehicles
    x, y = vehicles.make_images(["car", "truck"], n_per_class=8, seed=1)
    vehicles.show_grid(x, y, ["car", "truck"], path="grid.png")
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "CLASS_NAMES",
    "STYLES",
    "CIFAR10_CLASSES",
    "MIN_SIZE",
    "render",
    "make_images",
    "make_dataset",
    "splits",
    "show_grid",
    "load_cifar10",
    "load_photos",
]

CLASS_NAMES: tuple[str, ...] = (
    "car",
    "truck",
    "bus",
    "van",
    "motorbike",
    "bicycle",
    "person",
    "tree",
    "house",
    "boat",
)
"""The classes of the synthetic world, in label order."""

STYLES: tuple[str, ...] = ("day", "dusk", "night", "fog")
"""Rendering styles (domains): same scenes, different light."""

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""CIFAR-10 label names, in label order (CIFAR calls a car an ``automobile``)."""

MIN_SIZE = 16
"""Smallest image side :func:`render` accepts: below it, shapes stop being recognisable."""

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""Picture files :func:`load_photos` reads (the ones Keras decodes)."""

_N_RANDOM = 192  # uniform numbers per image, split into independent blocks below
_BLOCKS = {"scene": (0, 32), "light": (32, 48), "clutter": (48, 128), "object": (128, 192)}
_CHUNK_PIXELS = 48 * 32 * 32  # pixels rendered together in one vectorised batch (fits cache)
_STREAMS = {"images": 0, "train": 1, "val": 2, "test": 3}

# ----------------------------------------------------------------------------------------
# Colours (RGB, 0..255)
# ----------------------------------------------------------------------------------------
_PAINT = np.array(
    [
        [235, 235, 232],  # white
        [172, 175, 180],  # silver
        [40, 40, 45],  # black
        [190, 32, 36],  # red
        [40, 72, 170],  # blue
        [28, 38, 85],  # navy
        [42, 112, 62],  # green
        [228, 190, 42],  # yellow
        [220, 112, 32],  # orange
        [112, 72, 46],  # brown
        [32, 140, 150],  # teal
        [122, 28, 42],  # maroon
    ],
    np.float32,
)
_GLASS = np.array([[60, 82, 104], [40, 50, 66], [92, 122, 150], [70, 76, 84]], np.float32)
_SKIN = np.array([[240, 200, 170], [200, 150, 110], [140, 95, 65], [90, 60, 42]], np.float32)
_HAIR = np.array([[30, 25, 20], [90, 60, 35], [200, 170, 110], [120, 120, 120]], np.float32)
_LEAF = np.array(
    [[40, 110, 40], [70, 140, 50], [30, 80, 35], [140, 150, 40], [185, 95, 30]], np.float32
)
_WALL = np.array(
    [[205, 185, 150], [172, 92, 72], [222, 222, 212], [150, 150, 160], [230, 200, 120]],
    np.float32,
)
_ROOF = np.array([[122, 42, 36], [70, 70, 82], [152, 82, 52], [50, 55, 60]], np.float32)
_GROUND = np.array(
    [[92, 92, 98], [72, 130, 60], [142, 116, 82], [152, 146, 140]], np.float32
)  # road, grass, dirt, pavement
_WATER = np.array([[40, 90, 132], [30, 110, 120], [60, 80, 110]], np.float32)
_TYRE = np.array([26, 26, 29], np.float32)
_HUB = np.array([160, 162, 168], np.float32)
_DARK = np.array([52, 52, 58], np.float32)
_HEADLIGHT = np.array([255, 244, 205], np.float32)
_TAILLIGHT = np.array([210, 30, 30], np.float32)
_WARM_LIGHT = np.array([255, 214, 130], np.float32)
_SAIL = np.array([240, 240, 234], np.float32)


# ----------------------------------------------------------------------------------------
# Random numbers, frames and masks
# ----------------------------------------------------------------------------------------
class _Draws:
    """Hands out one column of per-image uniform numbers for each random choice."""

    def __init__(self, uniforms: np.ndarray):
        self._u = uniforms
        self._k = 0

    def uniform(self, lo=0.0, hi=1.0) -> np.ndarray:
        """Per-image numbers in [lo, hi), shaped (N, 1, 1) to broadcast over pixels."""
        if self._k >= self._u.shape[1]:
            raise RuntimeError("renderer ran out of random numbers: enlarge its block")
        col = self._u[:, self._k, None, None]
        self._k += 1
        return lo + (hi - lo) * col

    def chance(self, p: float) -> np.ndarray:
        """1.0 with probability p, else 0.0, per image."""
        return (self.uniform() < p).astype(np.float32)

    def colour(self, palette: np.ndarray, jitter: float = 18.0) -> np.ndarray:
        """A palette colour per image plus jitter, shaped (N, 3)."""
        idx = (self.uniform()[:, 0, 0] * len(palette)).astype(int)
        noise = np.concatenate([self.uniform(-jitter, jitter)[:, 0] for _ in range(3)], axis=1)
        return np.clip(palette[np.minimum(idx, len(palette) - 1)] + noise, 0, 255)


class _Frame:
    """Coordinates in which shapes are drawn, with soft-edged mask makers.

    ``U`` grows to the right and ``V`` upward (object frame) or downward (screen frame);
    ``px`` is pixels per unit, used to anti-alias edges one pixel wide.
    """

    def __init__(self, U, V, px):
        self.U, self.V, self.px = U, V, px

    def soft(self, d):
        """Coverage in [0, 1] from a signed distance (positive inside)."""
        t = d * self.px
        t += 0.5
        return np.clip(t, 0.0, 1.0, out=t)

    def box(self, u0, u1, v0, v1, r=0.0):
        """Axis-aligned rectangle, corners rounded by radius r."""
        if np.isscalar(r) and r == 0:
            du = np.minimum(self.U - u0, u1 - self.U)
            dv = np.minimum(self.V - v0, v1 - self.V)
            return self.soft(np.minimum(du, dv))
        qu = np.abs(self.U - (u0 + u1) / 2) - ((u1 - u0) / 2 - r)
        qv = np.abs(self.V - (v0 + v1) / 2) - ((v1 - v0) / 2 - r)
        outside = np.sqrt(np.maximum(qu, 0) ** 2 + np.maximum(qv, 0) ** 2)
        return self.soft(r - outside - np.minimum(np.maximum(qu, qv), 0))

    def circle(self, cu, cv, r):
        return self.soft(r - np.sqrt((self.U - cu) ** 2 + (self.V - cv) ** 2))

    def ring(self, cu, cv, r_out, r_in):
        dist = np.sqrt((self.U - cu) ** 2 + (self.V - cv) ** 2)
        return self.soft(np.minimum(r_out - dist, dist - r_in))

    def ellipse(self, cu, cv, ru, rv):
        k = np.sqrt(((self.U - cu) / ru) ** 2 + ((self.V - cv) / rv) ** 2)
        return self.soft((1 - k) * np.minimum(ru, rv))

    def poly(self, *points):
        """Convex polygon, vertices counter-clockwise in (u, v) with v up."""
        d = None
        for (au, av), (bu, bv) in zip(points, points[1:] + points[:1], strict=True):
            eu, ev = bu - au, bv - av
            side = (eu * (self.V - av) - ev * (self.U - au)) / np.sqrt(eu * eu + ev * ev)
            d = side if d is None else np.minimum(d, side)
        return self.soft(d)

    def line(self, a, b, width):
        """Thick segment from point a to point b."""
        (au, av), (bu, bv) = a, b
        eu, ev = bu - au, bv - av
        pu, pv = self.U - au, self.V - av
        t = np.clip((pu * eu + pv * ev) / (eu * eu + ev * ev), 0.0, 1.0)
        return self.soft(width / 2 - np.sqrt((pu - t * eu) ** 2 + (pv - t * ev) ** 2))


class _Layer:
    """A premultiplied RGBA layer plus a mask of light-emitting parts (for night)."""

    def __init__(self, n: int, size: int, lights: bool):
        self.rgb = np.zeros((n, size, size, 3), np.float32)
        self.alpha = np.zeros((n, size, size), np.float32)
        self.light = np.zeros((n, size, size, 3), np.float32) if lights else None

    def paint(self, mask, colour, *, light=None):
        """Paint colour (N, 3) or (3,) through mask (N, H, W); `light` glows at night."""
        idx, m = _covered(mask, self.alpha.shape)
        _over(self.rgb, idx, m, colour)
        _over(self.alpha[..., None], idx, m, np.ones(1, np.float32))
        if light is not None and self.light is not None:
            _over(self.light, idx, m, light)


def _covered(mask, shape):
    """Flat indices of the pixels a mask touches, and the mask's values there."""
    flat = np.broadcast_to(mask, shape).reshape(-1)
    idx = np.flatnonzero(flat)
    return idx, flat[idx, None]


def _over(target, idx, m, colour):
    """Blend `colour` over `target` (N, H, W, C) at flat pixel indices `idx` by amount `m`.

    Only covered pixels are touched, which is much faster than blending whole images
    when the shape is small (most parts are).
    """
    if idx.size == 0:
        return
    n, h, w, c = target.shape
    colour = np.asarray(colour, np.float32)
    col = colour[idx // (h * w)] if colour.ndim == 2 else colour
    flat = target.reshape(-1, c)
    flat[idx] += m * (col - flat[idx])


class _Scene:
    """Everything needed to draw one batch of images of one class."""

    def __init__(self, uniforms: np.ndarray, size: int, style: str):
        self.n, self.size, self.style = len(uniforms), size, style
        blocks = {k: _Draws(uniforms[:, a:b]) for k, (a, b) in _BLOCKS.items()}
        self.scene, self.light_draws = blocks["scene"], blocks["light"]
        self.clutter, self.shape = blocks["clutter"], blocks["object"]
        c = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x, self.y = c[None, None, :], c[None, :, None]
        self.screen = _Frame(self.x, self.y, float(size))
        self.obj = _Layer(self.n, size, lights=style != "day")
        self.gy = None  # ground line (fraction of image height), set by place()

    def place(self, half_width, height, *, fill=(0.5, 0.92)) -> _Frame:
        """Choose scale, position and facing of an object and return its frame.

        The object's larger side covers a random `fill` fraction of the image; it may poke
        a little out of the left or right edge; its base stands on the ground line.
        """
        d = self.scene
        width = 2 * half_width
        s = d.uniform(*fill) / np.maximum(width, height)  # image fraction per unit
        s = np.minimum(s, 0.9 / height)
        half = half_width * s
        lo, hi = half * 0.85, 1 - half * 0.85
        cx = np.where(hi > lo, lo + d.uniform() * (hi - lo), 0.5)
        gy_lo = np.maximum(height * s + 0.03, 0.6)
        gy = gy_lo + d.uniform() * np.maximum(0.97 - gy_lo, 0)
        flip = np.where(d.uniform() < 0.5, 1.0, -1.0).astype(np.float32)
        self.gy, self.cx, self.scale = gy, cx, s
        self.half_width = half_width
        return _Frame((self.x - cx) / s * flip, (gy - self.y) / s, s * self.size)


# ----------------------------------------------------------------------------------------
# The classes. Object frame: u to the right (vehicles face +u), v up from the ground line.
# ----------------------------------------------------------------------------------------
def _wheel(sc: _Scene, f: _Frame, u, r):
    sc.obj.paint(f.circle(u, r, r), _TYRE)
    sc.obj.paint(f.circle(u, r, r * 0.45), _HUB)


def _shadow(sc: _Scene, f: _Frame, half_width, centre=0.0):
    sc.obj.paint(f.ellipse(centre, 0.0, half_width * 0.95, 0.05) * 0.45, _TYRE)


def _draw_car(sc: _Scene):
    o = sc.shape
    body_h, cabin_h = o.uniform(0.19, 0.29), o.uniform(0.15, 0.22)  # saloons to SUVs
    rake, wheel_r = o.uniform(-0.04, 0.08), o.uniform(0.1, 0.12)
    paint, glass = o.colour(_PAINT), o.colour(_GLASS, 15)
    f = sc.place(0.5, 0.08 + body_h + cabin_h)
    top = 0.08 + body_h  # top of the lower body
    _shadow(sc, f, 0.5)
    sc.obj.paint(f.box(-0.5, 0.5, 0.08, top, r=0.06), paint)
    cabin = (
        (-0.37 + rake, top - 0.01),
        (0.27, top - 0.01),
        (0.1, top + cabin_h),
        (-0.27 + rake, top + cabin_h),
    )
    sc.obj.paint(f.poly(*cabin), paint)
    window = (
        (-0.32 + rake, top + 0.015),
        (0.21, top + 0.015),
        (0.08, top + cabin_h - 0.03),
        (-0.245 + rake, top + cabin_h - 0.03),
    )
    sc.obj.paint(f.poly(*window), glass)
    sc.obj.paint(f.box(-0.07, -0.03, top, top + cabin_h), paint)  # pillar
    sc.obj.paint(f.box(0.455, 0.5, top - 0.075, top - 0.03), _HEADLIGHT, light=_HEADLIGHT)
    sc.obj.paint(f.box(-0.5, -0.465, top - 0.075, top - 0.035), _TAILLIGHT, light=_TAILLIGHT)
    for u in (-0.31, 0.3):
        _wheel(sc, f, u, wheel_r)


def _draw_truck(sc: _Scene):
    o = sc.shape
    cab_h, box_h, wheel_r = o.uniform(0.42, 0.52), o.uniform(0.5, 0.66), o.uniform(0.09, 0.11)
    rear = o.uniform(-0.8, -0.45)  # where the cargo box ends: long or short trucks
    paint, cargo, glass = o.colour(_PAINT), o.colour(_PAINT), o.colour(_GLASS, 15)
    band, band_colour = o.chance(0.4), o.colour(_PAINT)
    f = sc.place((0.8 - rear) / 2, 0.17 + box_h)
    f = _Frame(f.U + (0.8 + rear) / 2, f.V, f.px)  # centre the truck between rear and 0.8
    _shadow(sc, f, (0.8 - rear) / 2, centre=(0.8 + rear) / 2)
    sc.obj.paint(f.box(rear + 0.02, 0.78, 0.09, 0.18), _DARK)  # chassis
    sc.obj.paint(f.box(rear, 0.37, 0.17, 0.17 + box_h, r=0.02), cargo)
    mid = 0.17 + box_h * 0.5
    sc.obj.paint(f.box(rear + 0.08, 0.29, mid - 0.06, mid + 0.06) * band, band_colour)  # logo
    sc.obj.paint(f.box(0.41, 0.8, 0.12, 0.12 + cab_h, r=0.05), paint)
    cab_top = 0.12 + cab_h
    sc.obj.paint(f.box(0.58, 0.77, cab_top - 0.19, cab_top - 0.05, r=0.02), glass)
    sc.obj.paint(f.box(0.755, 0.8, 0.17, 0.23), _HEADLIGHT, light=_HEADLIGHT)
    for u in (rear + 0.17, rear + 0.39, 0.62):
        _wheel(sc, f, u, wheel_r)


def _draw_bus(sc: _Scene):
    o = sc.shape
    body_h, period, wheel_r = o.uniform(0.58, 0.7), o.uniform(0.17, 0.26), o.uniform(0.09, 0.11)
    paint, glass = o.colour(_PAINT), o.colour(_GLASS, 15)
    stripe, stripe_colour = o.chance(0.5), o.colour(_PAINT)
    f = sc.place(0.85, 0.07 + body_h)
    top = 0.07 + body_h
    _shadow(sc, f, 0.85)
    sc.obj.paint(f.box(-0.85, 0.85, 0.07, top, r=0.06), paint)
    sc.obj.paint(f.box(-0.85, 0.85, 0.2, 0.26) * stripe, stripe_colour)
    # a row of windows: a periodic pattern along u inside the window band
    phase = np.mod(f.U + 0.78, period) - period * 0.4
    pane = np.minimum(period * 0.4 - np.abs(phase), np.minimum(f.U + 0.78, 0.62 - f.U))
    band = np.minimum(f.V - (top - 0.26), (top - 0.07) - f.V)
    sc.obj.paint(f.soft(np.minimum(pane, band)), glass, light=_WARM_LIGHT)
    sc.obj.paint(f.box(0.69, 0.82, top - 0.3, top - 0.06, r=0.02), glass, light=_WARM_LIGHT)
    sc.obj.paint(f.box(0.5, 0.63, 0.11, top - 0.09), glass)  # door
    sc.obj.paint(f.box(0.8, 0.85, 0.14, 0.2), _HEADLIGHT, light=_HEADLIGHT)
    for u in (-0.55, 0.57):
        _wheel(sc, f, u, wheel_r)


def _draw_van(sc: _Scene):
    o = sc.shape
    van_h, nose, wheel_r = o.uniform(0.5, 0.62), o.uniform(0.12, 0.26), o.uniform(0.1, 0.115)
    paint, glass, side_windows = o.colour(_PAINT), o.colour(_GLASS, 15), o.chance(0.6)
    f = sc.place(0.55, 0.08 + van_h)
    top = 0.08 + van_h
    a_u, a_v = 0.55, 0.08 + van_h * 0.5  # where the windscreen starts
    b_u = 0.55 - nose  # where the roof starts
    _shadow(sc, f, 0.55)
    sc.obj.paint(f.poly((-0.55, 0.08), (0.55, 0.08), (a_u, a_v), (b_u, top), (-0.55, top)), paint)
    screen = (
        (a_u - 0.03, a_v + 0.02),
        (b_u - 0.015, top - 0.03),
        (b_u - 0.16, top - 0.03),
        (a_u - 0.2, a_v + 0.02),
    )
    sc.obj.paint(f.poly(*screen), glass)
    sc.obj.paint(f.box(-0.5, b_u - 0.22, a_v + 0.02, top - 0.03, r=0.02) * side_windows, glass)
    sc.obj.paint(f.box(0.03, 0.05, 0.12, a_v), _DARK)  # sliding-door seam
    sc.obj.paint(f.box(0.51, 0.55, 0.19, 0.25), _HEADLIGHT, light=_HEADLIGHT)
    for u in (-0.36, 0.36):
        _wheel(sc, f, u, wheel_r)


def _draw_rider(sc: _Scene, f: _Frame, seat, hands, feet, on, clothes, head_colour):
    """A seated person: torso up from the seat, arms to the handlebar, a leg down."""
    (su, sv), top = seat, (seat[0] + 0.11, seat[1] + 0.3)
    sc.obj.paint(f.line(feet, (su + 0.02, sv), 0.075) * on, clothes * 0.6)
    sc.obj.paint(f.line((su, sv), top, 0.13) * on, clothes)
    sc.obj.paint(f.line((top[0] - 0.01, top[1] - 0.04), hands, 0.055) * on, clothes)
    sc.obj.paint(f.circle(top[0] + 0.03, top[1] + 0.1, 0.075) * on, head_colour)


def _draw_motorbike(sc: _Scene):
    o = sc.shape
    r, wb = o.uniform(0.14, 0.17), o.uniform(0.3, 0.36)
    paint, rider, clothes, helmet = (
        o.colour(_PAINT),
        o.chance(0.6),
        o.colour(_PAINT),
        o.colour(_PAINT),
    )
    f = sc.place(wb + r, r + 0.42 + rider * 0.34)
    _shadow(sc, f, wb + r)
    sc.obj.paint(f.line((-wb, r), (-0.1, r + 0.12), 0.045), _DARK)  # swing arm
    sc.obj.paint(f.line((wb, r), (wb - 0.08, r + 0.36), 0.04), _HUB)  # fork
    for u in (-wb, wb):
        sc.obj.paint(f.circle(u, r, r), _TYRE)
        sc.obj.paint(f.circle(u, r, r * 0.6), _HUB * 0.8)
        sc.obj.paint(f.circle(u, r, r * 0.22), _DARK)
    body = ((-0.18, r), (0.15, r), (0.22, r + 0.2), (-0.02, r + 0.26), (-0.25, r + 0.2))
    sc.obj.paint(f.poly(*body), paint)
    sc.obj.paint(f.box(-0.3, -0.02, r + 0.19, r + 0.25, r=0.02), _DARK)  # seat
    handle = (wb - 0.16, r + 0.38)
    sc.obj.paint(f.line((wb - 0.08, r + 0.36), handle, 0.035), _DARK)
    sc.obj.paint(f.circle(wb - 0.03, r + 0.3, 0.04), _HEADLIGHT, light=_HEADLIGHT)
    _draw_rider(sc, f, (-0.12, r + 0.26), handle, (0.06, r + 0.08), rider, clothes, helmet)


def _draw_bicycle(sc: _Scene):
    o = sc.shape
    r, wb = o.uniform(0.16, 0.19), o.uniform(0.31, 0.36)
    paint, rider, clothes, skin = o.colour(_PAINT), o.chance(0.5), o.colour(_PAINT), o.colour(_SKIN)
    f = sc.place(wb + r, r + 0.38 + rider * 0.4)
    _shadow(sc, f, wb + r)
    for u in (-wb, wb):
        sc.obj.paint(f.ring(u, r, r, r - 0.04), _TYRE)
        sc.obj.paint(f.circle(u, r, 0.03), _HUB)
    rear, front, crank = (-wb, r), (wb, r), (0.0, r)
    seat, head = (-0.1, r + 0.3), (wb - 0.08, r + 0.3)
    for a, b in ((rear, crank), (rear, seat), (crank, seat), (seat, head), (crank, head)):
        sc.obj.paint(f.line(a, b, 0.035), paint)
    sc.obj.paint(f.line(head, front, 0.03), _HUB)
    handle = (wb - 0.14, r + 0.37)
    sc.obj.paint(f.line(head, handle, 0.03), _DARK)
    sc.obj.paint(f.box(-0.17, -0.03, r + 0.31, r + 0.35, r=0.015), _DARK)  # saddle
    _draw_rider(sc, f, (-0.1, r + 0.34), handle, (0.03, r + 0.04), rider, clothes, skin)


def _draw_person(sc: _Scene):
    o = sc.shape
    stride, swing = o.uniform(0.0, 0.12), o.uniform(-0.06, 0.06)
    shirt, trousers = o.colour(_PAINT), o.colour(_PAINT) * 0.7
    skin, hair = o.colour(_SKIN, 10), o.colour(_HAIR, 10)
    f = sc.place(0.2, 0.97, fill=(0.55, 0.88))
    _shadow(sc, f, 0.16)
    sc.obj.paint(f.line((-0.035, 0.47), (-stride, 0.03), 0.085), trousers)
    sc.obj.paint(f.line((0.035, 0.47), (stride, 0.03), 0.085), trousers)
    sc.obj.paint(f.line((-0.09, 0.76), (-0.14 - swing, 0.49), 0.06), shirt * 0.85)
    sc.obj.paint(f.box(-0.11, 0.11, 0.44, 0.8, r=0.04), shirt)
    sc.obj.paint(f.line((0.09, 0.76), (0.14 + swing, 0.49), 0.06), shirt * 0.85)
    sc.obj.paint(f.circle(0.0, 0.885, 0.075), skin)
    sc.obj.paint(f.ellipse(0.0, 0.925, 0.078, 0.045), hair)


def _draw_tree(sc: _Scene):
    o = sc.shape
    trunk_w, trunk_h, crown = o.uniform(0.035, 0.06), o.uniform(0.28, 0.42), o.uniform(0.3, 0.4)
    leaf, conifer = o.colour(_LEAF, 15), o.chance(0.35)
    trunk = o.colour(np.array([[92, 62, 36], [70, 52, 40]], np.float32), 10)
    f = sc.place(crown * 1.15, trunk_h + crown * 1.6, fill=(0.6, 0.9))
    _shadow(sc, f, crown)
    sc.obj.paint(f.box(-trunk_w, trunk_w, 0.0, trunk_h + 0.1), trunk)
    c_v = trunk_h + crown * 0.75
    round_crown = np.maximum(
        f.ellipse(0.0, c_v, crown, crown * 0.85),
        np.maximum(
            f.ellipse(-crown * 0.5, c_v - crown * 0.35, crown * 0.62, crown * 0.55),
            f.ellipse(crown * 0.5, c_v - crown * 0.35, crown * 0.62, crown * 0.55),
        ),
    )
    base, peak = trunk_h * 0.55, trunk_h + crown * 1.6
    pointed = np.maximum(
        f.poly((-crown * 1.1, base), (crown * 1.1, base), (0.0, peak * 0.8)),
        f.poly((-crown * 0.8, base + crown * 0.6), (crown * 0.8, base + crown * 0.6), (0.0, peak)),
    )
    sc.obj.paint(round_crown * (1 - conifer) + pointed * conifer, leaf)
    shade = f.ellipse(crown * 0.3, c_v - crown * 0.3, crown * 0.7, crown * 0.5)
    sc.obj.paint(np.minimum(shade, round_crown) * (1 - conifer) * 0.6, leaf * 0.7)


def _draw_house(sc: _Scene):
    o = sc.shape
    half_w, wall_h, roof_h = o.uniform(0.38, 0.5), o.uniform(0.4, 0.55), o.uniform(0.22, 0.38)
    wall, roof, glass = o.colour(_WALL), o.colour(_ROOF), o.colour(_GLASS, 15)
    door_u, door, chimney = o.uniform(-0.18, 0.18), o.colour(_PAINT) * 0.6, o.chance(0.5)
    f = sc.place(half_w + 0.06, wall_h + roof_h, fill=(0.65, 0.95))
    sc.obj.paint(
        f.box(half_w * 0.35, half_w * 0.35 + 0.09, wall_h, wall_h + roof_h * 0.8) * chimney,
        roof * 0.8,
    )
    sc.obj.paint(f.box(-half_w, half_w, 0.0, wall_h), wall)
    sc.obj.paint(
        f.poly((-half_w - 0.06, wall_h), (half_w + 0.06, wall_h), (0.0, wall_h + roof_h)), roof
    )
    win_v = wall_h * 0.55
    for u in (-half_w * 0.58, half_w * 0.58):
        sc.obj.paint(f.box(u - 0.09, u + 0.09, win_v - 0.08, win_v + 0.08), _SAIL)  # frame
        sc.obj.paint(
            f.box(u - 0.07, u + 0.07, win_v - 0.06, win_v + 0.06), glass, light=_WARM_LIGHT
        )
    sc.obj.paint(f.box(door_u - 0.07, door_u + 0.07, 0.0, 0.28), door)


def _draw_boat(sc: _Scene):
    o = sc.shape
    half_l, mast_h, sail = o.uniform(0.45, 0.55), o.uniform(0.5, 0.7), o.chance(0.5)
    hull, stripe, glass = o.colour(_PAINT), o.colour(_PAINT), o.colour(_GLASS, 15)
    f = sc.place(half_l, 0.16 + sail * mast_h + (1 - sail) * 0.3)
    hull_pts = ((-half_l + 0.08, -0.06), (half_l - 0.15, -0.06), (half_l, 0.16), (-half_l, 0.16))
    hull_mask = f.poly(*hull_pts)
    sc.obj.paint(hull_mask, hull)
    sc.obj.paint(np.minimum(hull_mask, f.box(-1.0, 1.0, 0.1, 0.135)), stripe)
    top = 0.16 + mast_h
    sc.obj.paint(f.line((-0.02, 0.16), (-0.02, top), 0.025) * sail, _DARK)
    main_sail = f.poly((0.0, 0.2), (half_l * 0.8, 0.2), (0.0, top * 0.97))
    jib = f.poly((-half_l * 0.7, 0.2), (-0.05, 0.2), (-0.05, top * 0.8))
    sc.obj.paint(np.maximum(main_sail, jib) * sail, _SAIL)
    sc.obj.paint(f.box(-0.26, 0.16, 0.14, 0.3, r=0.03) * (1 - sail), _SAIL)  # cabin
    sc.obj.paint(f.box(0.0, 0.12, 0.19, 0.26) * (1 - sail), glass, light=_WARM_LIGHT)


_DRAW = {
    "car": _draw_car,
    "truck": _draw_truck,
    "bus": _draw_bus,
    "van": _draw_van,
    "motorbike": _draw_motorbike,
    "bicycle": _draw_bicycle,
    "person": _draw_person,
    "tree": _draw_tree,
    "house": _draw_house,
    "boat": _draw_boat,
}


# ----------------------------------------------------------------------------------------
# Background, clutter, occlusion, light and camera
# ----------------------------------------------------------------------------------------
def _lerp(a, b, t):
    return a + (b - a) * t


def _background(sc: _Scene, water: bool) -> np.ndarray:
    """Sky gradient, horizon, distant skyline, ground gradient (or water), road markings."""
    d = sc.scene
    n = sc.n
    horizon = np.minimum(d.uniform(0.25, 0.6), sc.gy - 0.08)
    overcast = d.uniform()[:, 0]
    if sc.style == "dusk":
        sky_top = np.array([70, 58, 120], np.float32) + overcast * 40
        sky_low = np.array([245, 150, 80], np.float32) - overcast * 60
    else:
        sky_top = _lerp(np.array([70, 130, 210], np.float32), np.array([150, 165, 185]), overcast)
        sky_low = _lerp(sky_top, np.array([222, 226, 232], np.float32), 0.6)
    ground_near = d.colour(_WATER if water else _GROUND, 15)
    ground_far = _lerp(ground_near, sky_low, 0.35)
    t_sky = (sc.y / horizon)[..., None]  # (N, H, 1, 1)
    sky = _lerp(sky_top[:, None, None, :], sky_low[:, None, None, :], np.clip(t_sky, 0, 1))
    t_ground = np.clip((sc.y - horizon) / (1 - horizon), 0, 1)[..., None]
    ground = _lerp(ground_far[:, None, None, :], ground_near[:, None, None, :], t_ground)
    below = sc.screen.soft(sc.y - horizon)[..., None]
    img = np.broadcast_to(sky + (ground - sky) * below, (n, sc.size, sc.size, 3)).copy()
    # distant skyline: blocks whose heights come from a hash of the block number
    blocks, skyline = d.uniform(4, 12), d.chance(0.5)
    idx = np.floor(sc.x * blocks + d.uniform(0, 10))
    height = np.abs(np.sin(idx * 12.9898) * 43758.5453) % 1.0 * d.uniform(0.04, 0.16)
    in_skyline = sc.screen.soft(
        np.minimum(sc.y - (horizon - height), horizon - sc.y + 0.5 / sc.size)
    )
    hue = _lerp(sky_low, np.array([90, 95, 110], np.float32), 0.55)
    _over(img, *_covered(in_skyline * skyline, img.shape[:3]), hue)
    # dashed road markings on roads
    is_road = (ground_near[:, 0] < 110)[:, None, None].astype(np.float32)  # grey, not dirt
    lane_y = horizon + (1 - horizon) * d.uniform(0.25, 0.9)
    dashes = np.where(np.mod(sc.x * d.uniform(3, 6) + d.uniform(), 1.0) < 0.5, 1.0, 0.0)
    lane = sc.screen.soft(0.012 - np.abs(sc.y - lane_y)) * dashes * is_road * d.chance(0.5)
    _over(img, *_covered(lane, img.shape[:3]), np.array([235, 225, 180], np.float32))
    return img


def _clutter(sc: _Scene, img: np.ndarray, light: np.ndarray | None, count: int, big: float):
    """Small distractor shapes (circles and boxes) of random colours anywhere."""
    d = sc.clutter
    for _ in range(count):
        on, round_, lamp = d.chance(0.55), d.chance(0.5), d.chance(0.35)
        cx, cy, rx, ry = d.uniform(), d.uniform(), d.uniform(0.02, big), d.uniform(0.02, big)
        colour = np.concatenate([d.uniform(0, 255)[:, 0] for _ in range(3)], axis=1)
        shape = _lerp(
            sc.screen.box(cx - rx, cx + rx, cy - ry, cy + ry), sc.screen.circle(cx, cy, rx), round_
        )
        idx, m = _covered(shape * on, img.shape[:3])
        _over(img, idx, m, colour)
        if light is not None:
            _over(light, idx, m, _WARM_LIGHT * (round_ * lamp)[:, 0])


def _occluder(sc: _Scene, img: np.ndarray, light: np.ndarray | None):
    """Sometimes a post or a bush in front of the object hides part of it."""
    d = sc.clutter
    on, bush = d.chance(0.35), d.chance(0.5)
    px, pw, top = d.uniform(0.05, 0.95), d.uniform(0.02, 0.05), d.uniform(0.0, 0.6)
    bx, brx, bry = d.uniform(0.05, 0.95), d.uniform(0.1, 0.25), d.uniform(0.08, 0.22)
    colour = d.colour(np.array([[50, 100, 45], [95, 95, 100], [90, 65, 45]], np.float32), 20)
    post = sc.screen.box(px - pw, px + pw, top, 1.2)
    shrub = sc.screen.ellipse(bx, 1.0, brx, bry)
    idx, m = _covered(_lerp(post, shrub, bush) * on, img.shape[:3])
    _over(img, idx, m, colour)
    if light is not None:
        _over(light, idx, m, np.zeros(3, np.float32))


def _blur(img: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Mix each image with its [1 2 1] x [1 2 1] / 16 blur by `amount` (N, 1, 1)."""
    which = np.flatnonzero(amount.reshape(-1) > 0)
    if which.size == 0:
        return img
    sub = img[which]
    p = np.pad(sub, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h = p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]
    b = (h[:, :-2] + 2 * h[:, 1:-1] + h[:, 2:]) / 16
    img[which] = sub + amount[which][..., None] * (b - sub)
    return img


def _apply_style(sc: _Scene, img, light, d: _Draws):
    """Turn a daylight scene into dusk, night or fog. Draws the same numbers for any style."""
    fog_amount, fog_grey = d.uniform(0.45, 0.68), d.uniform(165, 205)
    night_dark, dusk_dark = d.uniform(0.2, 0.34), d.uniform(0.55, 0.75)
    if sc.style == "dusk":
        img = img * (dusk_dark[..., None] * np.array([1.05, 0.85, 0.72], np.float32))
        img += light * 0.5
    elif sc.style == "night":
        tint = np.array([0.75, 0.85, 1.25], np.float32)
        img = img * (night_dark[..., None] * tint)
        halo = _blur(_blur(light, np.ones_like(night_dark)), np.ones_like(night_dark))
        img += light * 0.9 + halo * 0.6
    elif sc.style == "fog":
        depth = (1 - sc.y * 0.3)[..., None]  # denser fog toward the far top
        t = np.clip(fog_amount[..., None] * depth * 1.1, 0, 0.85)
        img = img + t * (fog_grey[..., None] * np.array([0.98, 1.0, 1.03], np.float32) - img)
    return img


def _render_batch(class_name: str, uniforms: np.ndarray, noise: np.ndarray, style: str):
    """Render one class: uniforms (N, _N_RANDOM), noise (N, H, W, 3) -> uint8 images."""
    size = noise.shape[1]
    sc = _Scene(uniforms.astype(np.float32), size, style)
    _DRAW[class_name](sc)  # draws the object into its own layer, choosing the ground line
    img = _background(sc, water=class_name == "boat")
    bg_light = np.zeros_like(img) if sc.obj.light is not None else None
    _clutter(sc, img, bg_light, count=4, big=0.12)
    obj = sc.obj
    img = obj.rgb + (1 - obj.alpha)[..., None] * img
    light = None
    if obj.light is not None:
        light = obj.light + (1 - obj.alpha)[..., None] * bg_light
    _clutter(sc, img, light, count=1, big=0.05)
    _occluder(sc, img, light)
    d = sc.light_draws
    bright, contrast = d.uniform(0.72, 1.2), d.uniform(0.75, 1.15)
    cast = np.concatenate([d.uniform(0.9, 1.1)[:, 0] for _ in range(3)], axis=1)
    blur, sigma = np.maximum(d.uniform(-0.8, 1.0), 0), d.uniform(1.0, 8.0)
    img = _apply_style(sc, img, light, d)
    # contrast about each image's mean, then brightness and colour cast, in place
    scale = bright[..., None] * cast[:, None, None, :]
    offset = img.mean(axis=(1, 2), keepdims=True) * (1 - contrast[..., None]) * scale
    img *= contrast[..., None] * scale
    img += offset
    if style == "fog":
        blur = np.minimum(blur + 0.6, 1.0)
    img = _blur(img, blur)
    noise *= sigma[..., None]
    img += noise
    np.rint(img, out=img)
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def _random_inputs(seed: int, stream: int, class_id: int, indices, size: int):
    """Per-image uniforms and noise, each from the image's own generator."""
    uniforms = np.empty((len(indices), _N_RANDOM))
    noise = np.empty((len(indices), size, size, 3), np.float32)
    for row, i in enumerate(indices):
        rng = np.random.default_rng([seed, stream, class_id, int(i)])
        uniforms[row] = rng.random(_N_RANDOM)
        noise[row] = rng.standard_normal((size, size, 3), dtype=np.float32)
    return uniforms, noise


def _render_class(class_name, n, *, seed, stream, size, style) -> np.ndarray:
    class_id = CLASS_NAMES.index(class_name)
    out = np.empty((n, size, size, 3), np.uint8)
    chunk = max(8, _CHUNK_PIXELS // (size * size))
    for start in range(0, n, chunk):
        idx = range(start, min(n, start + chunk))
        uniforms, noise = _random_inputs(seed, stream, class_id, idx, size)
        out[idx.start : idx.stop] = _render_batch(class_name, uniforms, noise, style)
    return out


# ----------------------------------------------------------------------------------------
# Checking arguments (before any expensive work)
# ----------------------------------------------------------------------------------------
def _unknown_name_error(kind: str, name, valid: Sequence[str], hint: str = "") -> ValueError:
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.5)
    guess = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    plural = kind + ("es" if kind.endswith("s") else "s")
    return ValueError(f"unknown {kind} {name!r}.{guess}{hint} Valid {plural}: {', '.join(valid)}.")


def _check_classes(classes, valid: Sequence[str] = CLASS_NAMES, kind="class") -> tuple[str, ...]:
    if classes is None:
        return tuple(valid)
    if isinstance(classes, str):
        raise ValueError(
            f"classes must be a list of names such as ['car', 'truck'], not the string "
            f"{classes!r}; write [{classes!r}] for a single class."
        )
    classes = tuple(classes)
    if not classes:
        raise ValueError(f"classes is empty; give at least one of: {', '.join(valid)}.")
    for name in classes:
        if name not in valid:
            hint = ""
            if kind == "CIFAR-10 class" and name == "car":
                hint = " CIFAR-10 calls cars 'automobile'."
            raise _unknown_name_error(kind, name, valid, hint)
    dupes = sorted({c for c in classes if classes.count(c) > 1})
    if dupes:
        raise ValueError(f"classes lists {', '.join(dupes)} more than once; list each once.")
    return classes


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"image size must be a whole number of pixels, got {size!r}.")
    if size < MIN_SIZE:
        raise ValueError(
            f"image size must be at least {MIN_SIZE} pixels (got {size}): smaller pictures "
            f"are too coarse to draw the shapes; use size=32 (like CIFAR-10) or more."
        )
    return int(size)


def _check_style(style) -> str:
    if style not in STYLES:
        raise _unknown_name_error("style", style, STYLES)
    return style


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")
    return int(seed)


# ----------------------------------------------------------------------------------------
# Public API: synthetic images
# ----------------------------------------------------------------------------------------
def render(class_name: str, *, seed: int = 0, size: int = 32, style: str = "day") -> np.ndarray:
    """Render one picture of `class_name` as a uint8 array of shape (size, size, 3).

    It is the first picture of that class in ``make_images(..., seed=seed)``.

    Example::

        >>> img = render("truck", seed=3)
        >>> img.shape, img.dtype
        ((32, 32, 3), dtype('uint8'))
    """
    (class_name,) = _check_classes([class_name])
    size, style, seed = _check_size(size), _check_style(style), _check_seed(seed)
    return _render_class(class_name, 1, seed=seed, stream=0, size=size, style=style)[0]


def _make(classes, n_per_class, *, seed, size, style, shuffle, stream):
    images = [
        _render_class(c, n_per_class, seed=seed, stream=stream, size=size, style=style)
        for c in classes
    ]
    x = np.concatenate(images) if images else np.zeros((0, size, size, 3), np.uint8)
    y = np.repeat(np.arange(len(classes), dtype=np.int64), n_per_class)
    if shuffle and len(y):
        order = np.random.default_rng([seed, stream, len(y)]).permutation(len(y))
        x, y = x[order], y[order]
    return x, y


def make_images(
    classes: Sequence[str] | None = None,
    n_per_class: int = 100,
    *,
    seed: int = 0,
    size: int = 32,
    style: str = "day",
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Render `n_per_class` pictures of each class.

    Returns ``(images, labels)``: uint8 ``[N, size, size, 3]`` and int64 ``[N]``, where
    label ``k`` means ``classes[k]`` (default: all of :data:`CLASS_NAMES`). With
    ``shuffle=False`` the images come class by class.

    Example::

        >>> x, y = make_images(["car", "truck"], n_per_class=5, seed=0)
        >>> x.shape, y.tolist().count(1)
        ((10, 32, 32, 3), 5)
    """
    classes = _check_classes(classes)
    n_per_class = _check_count("n_per_class", n_per_class)
    size, style, seed = _check_size(size), _check_style(style), _check_seed(seed)
    return _make(
        classes,
        n_per_class,
        seed=seed,
        size=size,
        style=style,
        shuffle=shuffle,
        stream=_STREAMS["images"],
    )


def _to_dataset(x, y, *, batch_size, shuffle, seed, class_names):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y))
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    ds.class_names = list(class_names)
    return ds


def make_dataset(
    classes: Sequence[str] | None = None,
    n_per_class: int = 100,
    *,
    seed: int = 0,
    size: int = 32,
    style: str = "day",
    batch_size: int = 32,
    shuffle: bool = True,
):
    """Render pictures into a batched ``tf.data.Dataset`` of ``(images, labels)``.

    Images are float32 in 0..255 (models carry their own ``Rescaling`` layer), labels are
    int64 indices into `classes`. With ``shuffle=True`` the order changes every epoch
    (reproducibly, from `seed`). The class names are in ``dataset.class_names``.

    Example::

        ds = make_dataset(["car", "truck"], n_per_class=20, batch_size=8)
        model.fit(ds, epochs=3)
    """
    classes = _check_classes(classes)
    n_per_class = _check_count("n_per_class", n_per_class)
    batch_size = _check_count("batch_size", batch_size)
    x, y = make_images(classes, n_per_class, seed=seed, size=size, style=style, shuffle=shuffle)
    return _to_dataset(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, class_names=classes)


def splits(
    classes: Sequence[str] | None = None,
    *,
    train: int = 200,
    val: int = 50,
    test: int = 200,
    seed: int = 0,
    size: int = 32,
    style: str = "day",
    test_style: str | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train, validation and test sets (counts are per class) that never share a picture.

    Each split draws from its own random stream, so growing ``train`` leaves ``test``
    unchanged, and no test picture of any seed or class list is ever a training (or
    :func:`make_images`) picture. The car pictures are the same whichever other classes
    you ask for, so a source task and a target task built from one seed share them only
    within the same split. ``test_style`` renders the test split in another style (domain shift);
    ``val`` or ``test`` may be 0 for an empty split.

    Example::

        >>> data = splits(["car", "truck"], train=20, val=10, test=100, seed=0)
        >>> x_train, y_train = data["train"]
        >>> x_train.shape
        (40, 32, 32, 3)
    """
    classes = _check_classes(classes)
    counts = {
        "train": _check_count("train", train),
        "val": _check_count("val", val, minimum=0),
        "test": _check_count("test", test, minimum=0),
    }
    size, style, seed = _check_size(size), _check_style(style), _check_seed(seed)
    test_style = style if test_style is None else _check_style(test_style)
    out = {}
    for name, n in counts.items():
        out[name] = _make(
            classes,
            n,
            seed=seed,
            size=size,
            style=test_style if name == "test" else style,
            shuffle=True,
            stream=_STREAMS[name],
        )
    return out


# ----------------------------------------------------------------------------------------
# Looking at pictures
# ----------------------------------------------------------------------------------------
def _as_uint8_images(images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be shaped [N, H, W, 3] (or one [H, W, 3] image), got {x.shape}."
        )
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        if x.size and x.max() <= 1.0:
            x = x * 255  # pictures already rescaled to 0..1
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x


def _label_text(value, class_names) -> str:
    k = int(value)
    return class_names[k] if class_names is not None and 0 <= k < len(class_names) else str(k)


def show_grid(
    images,
    labels=None,
    class_names: Sequence[str] | None = None,
    *,
    predictions=None,
    ncols: int = 8,
    path=None,
):
    """Show pictures in a grid, titled with their labels (and predictions, if given).

    `images` is uint8 or float (0..255, or 0..1) ``[N, H, W, 3]``. `labels` and
    `predictions` are class indices (predictions may be probabilities ``[N, classes]``);
    a prediction is titled green when right and red (true label below) when wrong. With
    `path` the figure is also saved as a PNG. Returns the ``matplotlib.figure.Figure``
    (not shown with ``plt.show()``; in a notebook make it the last expression of a cell).

    Example::

        x, y = make_images(["car", "truck"], n_per_class=8)
        fig = show_grid(x, y, ["car", "truck"], path="cars_and_trucks.png")
    """
    import matplotlib.pyplot  # noqa: F401  (chooses a backend; registers notebook display)
    from matplotlib.figure import Figure

    x = _as_uint8_images(images)
    n = len(x)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    preds = None if predictions is None else np.asarray(predictions)
    if preds is not None and preds.ndim == 2:
        preds = preds.argmax(axis=1)
    for name, arr in (("labels", labels), ("predictions", preds)):
        if arr is not None and len(arr) != n:
            raise ValueError(f"got {n} images but {len(arr)} {name}; give one per image.")
    ncols = max(1, min(_check_count("ncols", ncols), n))
    nrows = max(1, math.ceil(n / ncols))

    fig = Figure(figsize=(1.3 * ncols, 1.45 * nrows), layout="constrained")
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(x[i].squeeze(), cmap="gray" if x.shape[-1] == 1 else None)
        if preds is None and labels is not None:
            ax.set_title(_label_text(labels[i], class_names), fontsize=8)
        elif preds is not None:
            text, colour = _label_text(preds[i], class_names), "black"
            if labels is not None:
                right = int(preds[i]) == int(labels[i])
                colour = "green" if right else "red"
                text += "" if right else f"\n({_label_text(labels[i], class_names)})"
            ax.set_title(text, fontsize=8, color=colour)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, format="png")
    return fig


# ----------------------------------------------------------------------------------------
# Real pictures
# ----------------------------------------------------------------------------------------
_CIFAR10_HOSTS = ("www.cs.toronto.edu", "storage.googleapis.com")  # source, tfds mirror
_NO_NETWORK = (
    "could not download CIFAR-10: there is no network here (or the download failed). "
    "Use the offline synthetic vehicle world instead (drop --real, or call "
    "ftlab.vehicles.make_images), or copy a prepared tensorflow_datasets folder here "
    "and pass data_dir=."
)


def _is_network_error(err: BaseException | None) -> bool:
    """True if `err`, or an error that caused it, is a failed connection."""
    names = {
        "ConnectionError",
        "MaxRetryError",
        "NameResolutionError",
        "NewConnectionError",
        "URLError",
        "gaierror",
        "ProxyError",
        "SSLError",
        "Timeout",
        "ConnectTimeout",
    }
    while err is not None:
        if isinstance(err, (ConnectionError, TimeoutError)) or type(err).__name__ in names:
            return True
        err = err.__cause__ or err.__context__
    return False


def _reachable(hosts=_CIFAR10_HOSTS, timeout: float = 5.0) -> bool:
    """Can we open a connection to any of `hosts`? (A few seconds at most.)"""
    import socket

    for host in hosts:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def _cifar10_download_needed(tfds, data_dir) -> bool:
    """True if CIFAR-10 is not prepared in `data_dir` yet, so tfds would download it.

    Under ``tfds.testing.mock_data()`` nothing is ever downloaded.
    """
    prepare = tfds.core.DatasetBuilder.download_and_prepare
    if not getattr(prepare, "__module__", "").startswith("tensorflow_datasets.core"):
        return False  # mocked
    return not tfds.builder("cifar10", data_dir=data_dir).is_prepared()


def _read_cifar10(split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    """All of one CIFAR-10 split as numpy arrays, or ConnectionError without network."""
    import tensorflow_datasets as tfds

    # Offline, tfds retries a download for minutes before it fails: check first.
    if _cifar10_download_needed(tfds, data_dir) and not _reachable():
        raise ConnectionError(_NO_NETWORK)
    try:
        data = tfds.load("cifar10", split=split, as_supervised=True, data_dir=data_dir)
        batches = list(tfds.as_numpy(data.batch(4096)))
    except Exception as err:
        if _is_network_error(err):
            raise ConnectionError(_NO_NETWORK) from err
        if isinstance(err, ModuleNotFoundError):
            raise ModuleNotFoundError(
                f"tensorflow-datasets needs the module {err.name!r} to download CIFAR-10: "
                f"pip install {err.name}"
            ) from err
        raise
    if not batches:
        return np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64)
    images = np.concatenate([x for x, _ in batches]).astype(np.uint8)
    return images, np.concatenate([y for _, y in batches]).astype(np.int64)


def load_cifar10(
    classes: Sequence[str] = ("automobile", "truck"),
    split: str = "train",
    n_per_class: int | None = None,
    data_dir=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Real 32x32 photos from CIFAR-10 via tensorflow-datasets, relabelled to `classes`.

    Returns ``(images, labels)``: uint8 ``[N, 32, 32, 3]`` and int64 ``[N]`` where label
    ``k`` means ``classes[k]``, in the dataset's own order. ``n_per_class`` keeps the
    first that many pictures of each class (CIFAR-10 has 5000 per class in ``"train"``
    and 1000 in ``"test"``). The first call downloads about 160 MB into `data_dir`
    (default ``~/tensorflow_datasets``); without a network it raises ``ConnectionError``:
    use the synthetic world (:func:`make_images`) instead.

    Example::

        x, y = load_cifar10(("automobile", "truck"), split="test", n_per_class=20)
    """
    classes = _check_classes(classes, CIFAR10_CLASSES, kind="CIFAR-10 class")
    if n_per_class is not None:
        n_per_class = _check_count("n_per_class", n_per_class)
    images, cifar_labels = _read_cifar10(split, data_dir)
    keep = np.zeros(len(cifar_labels), bool)
    labels = np.full(len(cifar_labels), -1, np.int64)
    for k, name in enumerate(classes):
        where = np.flatnonzero(cifar_labels == CIFAR10_CLASSES.index(name))
        if n_per_class is not None:
            if len(where) < n_per_class:
                raise ValueError(
                    f"CIFAR-10 split {split!r} has only {len(where)} {name!r} pictures, but "
                    f"n_per_class={n_per_class}; ask for at most {len(where)} (or "
                    f"n_per_class=None for all)."
                )
            where = where[:n_per_class]
        keep[where] = True
        labels[where] = k
    return images[keep], labels[keep]


def _photo_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _unreadable(files: list[Path]) -> list[str]:
    from PIL import Image

    bad = []
    for file in files:
        try:
            with Image.open(file) as im:
                fmt = im.format
                im.verify()
            if fmt not in {"PNG", "JPEG", "GIF", "BMP"}:
                bad.append(f"{file} ({fmt} is not a format Keras reads)")
        except Exception as err:  # PIL raises many kinds for broken files
            bad.append(f"{file} ({type(err).__name__})")
    return bad


def load_photos(
    directory,
    *,
    size: int = 32,
    class_names: Sequence[str] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    shuffle: bool = True,
):
    """Your own pictures as a batched ``tf.data.Dataset``, one subfolder per class.

    Layout: ``directory/car/*.jpg``, ``directory/truck/*.png``, ... Pictures are resized to
    ``size x size`` and given as float32 0..255 with int labels in the order of
    `class_names` (default: the subfolders, alphabetically; see
    ``dataset.class_names``), like :func:`make_dataset`. Every file is checked first, so
    a broken picture gives a clear error naming it.

    Example::

        ds = load_photos("my_photos", class_names=["car", "truck"])
        model.evaluate(ds)
    """
    size = _check_size(size)
    batch_size = _check_count("batch_size", batch_size)
    folder = Path(directory)
    layout = (
        f"expected one subfolder per class, e.g. {folder / 'car'}/*.jpg and "
        f"{folder / 'truck'}/*.jpg"
    )
    if not folder.exists():
        raise FileNotFoundError(f"photo folder {folder} does not exist; {layout}.")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder; {layout}.")
    subdirs = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not subdirs:
        loose = " (it has pictures but no class subfolders)" if _photo_files(folder) else ""
        raise ValueError(f"photo folder {folder} has no class subfolders{loose}; {layout}.")
    if class_names is not None:
        class_names = list(class_names)
        missing = [c for c in class_names if c not in subdirs]
        extra = [s for s in subdirs if s not in class_names]
        if missing or extra:
            raise ValueError(
                f"class_names {class_names} must match the subfolders of {folder} exactly: "
                f"missing folders {missing}, extra folders {extra}. Create or move folders, or "
                f"pass class_names=None to use {subdirs}."
            )
    names = class_names if class_names is not None else subdirs
    files = {c: _photo_files(folder / c) for c in names}
    if not any(files.values()):
        kinds = ", ".join(IMAGE_SUFFIXES)
        raise ValueError(f"no images found in {folder} (looked for {kinds} files); {layout}.")
    empty = [c for c, f in files.items() if not f]
    if empty:
        raise ValueError(f"no images found for class(es) {empty} in {folder}; add some.")
    bad = _unreadable([f for fs in files.values() for f in fs])
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ValueError(f"{len(bad)} unreadable image file(s): {shown}. Delete or re-save them.")
    import keras
    import tensorflow as tf

    ds = keras.utils.image_dataset_from_directory(
        folder,
        labels="inferred",
        label_mode="int",
        class_names=names,
        image_size=(size, size),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
    )
    class_names = list(ds.class_names)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.class_names = class_names
    return ds
