#!/usr/bin/env python3
"""Reference fixtures for src/xai/quickshift.ts, made by scikit-image (the oracle; not needed to run
the tests, which read the committed JSON). Run: /usr/bin/python3 tools/quickshift-fixtures.py
(needs python3-skimage, numpy, Pillow; written against scikit-image 0.19.3).

Each fixture: a small RGB crop (uint8, base64) resized from a real photo in /work/shared/images or
a synthetic image, the settings, and skimage.segmentation.quickshift's labels (uint8, or uint16 LE when K > 256; base64).
The RGB passed to skimage is float32(u8 / 255) widened to float64, the same numbers the TypeScript
port receives as a Float32Array. lab.json holds skimage.color.rgb2lab for a set of colours.
"""
import base64, json, os, sys
import numpy as np
from PIL import Image
import skimage
from skimage.segmentation import quickshift
from skimage.color import rgb2lab

IMAGES = '/work/shared/images'
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'quickshift')
LIME = dict(kernel_size=4, max_dist=200, ratio=0.2)
FINE = dict(kernel_size=3, max_dist=6, ratio=0.5)
SKIMAGE_DEFAULT = dict(kernel_size=5, max_dist=10, ratio=1.0)


def photo(rel, size):
    im = Image.open(os.path.join(IMAGES, rel)).convert('RGB')
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def synthetic(h, w):
    rng = np.random.default_rng(1234)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    img[..., 0] = x / (w - 1)                       # horizontal red ramp
    img[..., 1] = (((x // 10) + (y // 10)) % 2) * 0.7  # checkerboard in green
    img[..., 2] = ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (h / 4) ** 2) * 0.9  # blue disc
    img += rng.normal(scale=0.03, size=img.shape)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def matched_agreement(a, b):
    """Share of pixels on which two labelings agree after a greedy one-to-one matching of their
    labels by largest overlap (the measure test/xai/quickshift.test.ts applies)."""
    ka, kb = a.max() + 1, b.max() + 1
    table = np.zeros((ka, kb), dtype=np.int64)
    np.add.at(table, (a.ravel(), b.ravel()), 1)
    used_a, used_b, hits = set(), set(), 0
    for flat in np.argsort(-table, axis=None, kind='stable'):
        i, j = divmod(int(flat), kb)
        if table[i, j] == 0:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i); used_b.add(j); hits += table[i, j]
    return hits / a.size


def as_input(u8):
    return (u8.astype(np.float32) / np.float32(255)).astype(np.float64)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode('ascii')


def fixture(name, u8, settings, seed=42, with_noise=False):
    rgb = as_input(u8)
    labels = quickshift(rgb, random_seed=seed, **settings)
    other = quickshift(rgb, random_seed=seed + 1, **settings)
    # skimage against itself with another tie-breaking seed: the floor any port can reach.
    agree = matched_agreement(labels, other)
    h, w = labels.shape
    k = int(labels.max()) + 1
    assert k < 65536
    dtype = '<u1' if k <= 256 else '<u2'
    print(f'{name}: {w}x{h} {settings} -> {k} segments; skimage seed {seed} vs {seed + 1}: '
          f'{other.max() + 1} segments, matched agreement {agree:.4f}')
    d = dict(name=name, width=w, height=h, kernelSize=settings['kernel_size'], maxDist=settings['max_dist'],
             ratio=settings['ratio'], skimageSeed=seed, segments=k, rgb=b64(u8.reshape(-1)),
             labelBytes=np.dtype(dtype).itemsize,
             labels=b64(labels.astype(dtype).reshape(-1)), selfAgreement=round(agree, 4))
    if with_noise:
        # The tie-breaking noise _quickshift_cython adds to the densities (same generator calls), so
        # the port can be run with skimage's exact noise where ties make the labels seed-dependent.
        noise = np.random.default_rng(seed).normal(scale=0.00001, size=(h, w))
        d['noise'] = b64(noise.astype('<f4').reshape(-1))
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(d, f)


def lab_fixture():
    rng = np.random.default_rng(7)
    special = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1],
               [0.04045, 0.04045, 0.04045], [0.0404, 0.0405, 0.04], [0.01, 0.02, 0.005], [0.5, 0.5, 0.5],
               [0.002, 0.0, 0.001], [0.9, 0.1, 0.3]]
    rgb = np.concatenate([np.array(special), rng.random((300, 3))]).astype(np.float32).astype(np.float64)
    lab = rgb2lab(rgb[None])[0]
    d = dict(rgb=[round(float(v), 9) for v in rgb.reshape(-1)], lab=[round(float(v), 9) for v in lab.reshape(-1)])
    # The rounded RGB must be the float32 values exactly (9 significant decimals round-trip f32).
    with open(os.path.join(OUT, 'lab.json'), 'w') as f:
        json.dump(d, f)


def main():
    os.makedirs(OUT, exist_ok=True)
    print('scikit-image', skimage.__version__, 'numpy', np.__version__)
    fixture('kitten96-lime', photo('misc/kitten_224.png', 96), LIME, with_noise=True)
    fixture('val1-96-lime', photo('imagenet-val/ILSVRC2012_val_00000001.JPEG', 96), LIME)
    fixture('synthetic64-lime', synthetic(64, 64), LIME)
    fixture('fish48-fine', photo('misc/fish.png', 48), FINE)
    fixture('synthetic40-fine', synthetic(40, 40), FINE, with_noise=True)
    fixture('eagle48-skdefault', photo('misc/bald_eagle.jpeg', 48), SKIMAGE_DEFAULT)
    lab_fixture()


if __name__ == '__main__':
    sys.exit(main())
