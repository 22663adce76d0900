/**
 * Ground-truth metrics (methods spec 7.1-7.4) against hand-computed values on a 4×4 map and a
 * float64 reference written here (ranks by counting, not by sorting) on random maps.
 */
import { describe, expect, it } from 'vitest';
import {
  bboxScore, boxesToMask, energyPointingGame, groundTruthMetrics, pointingGame, pointingHit, pointOf,
  saliencyOrder, saliencyRanks, topCount, topFractionIoU, topMask, minMaxNormalise,
} from '../../src/xai/metrics/index.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
}

// 4×4 map; the box covers x 1..2, y 1..2 (pixels 5, 6, 9, 10). Ties: 0.9 at 5 and 15; 0.7 at 8 and 9.
const MAP = {
  width: 4, height: 4,
  data: Float32Array.from([
    0.1, 0.2, 0.3, 0.4,
    0.5, 0.9, 0.8, 0.0,
    0.7, 0.7, 0.2, 0.1,
    0.0, 0.3, 0.3, 0.9,
  ]),
};
const BOX = boxesToMask([{ xmin: 1, ymin: 1, xmax: 2, ymax: 2 }], 4, 4);

describe('hand-computed 4×4 case', () => {
  it('box mask (inclusive corners, origin 0 and 1, clipping)', () => {
    expect([...BOX]).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    expect([...boxesToMask([{ xmin: 2, ymin: 2, xmax: 3, ymax: 3 }], 4, 4, { origin: 1 })]).toEqual([...BOX]);
    expect([...boxesToMask([{ xmin: 3, ymin: -2, xmax: 9, ymax: 0 }, { xmin: 2, ymin: 2, xmax: 1, ymax: 3 }], 4, 4)])
      .toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('order: stable on (−value, index)', () => {
    expect([...saliencyOrder(MAP)].slice(0, 6)).toEqual([5, 15, 6, 8, 9, 4]);
    expect(saliencyRanks(MAP)[9]).toBe(4);
  });
  it('EBPG = 2.6 / 6.4', () => {
    expect(energyPointingGame(MAP, BOX)).toBeCloseTo(2.6 / 6.4, 6);
    // Shift invariance: min-max first, so adding a constant changes nothing.
    expect(energyPointingGame(MAP.data.map((v) => v + 3), BOX)).toBeCloseTo(2.6 / 6.4, 6);
    expect(energyPointingGame(new Float32Array(16).fill(2), BOX)).toBe(0);
  });
  it('Bbox: top 4 = {5, 15, 6, 8} (8 wins the 0.7 tie) → 2/4', () => {
    expect(bboxScore(MAP, BOX)).toBe(0.5);
    expect(() => bboxScore(MAP, new Uint8Array(16))).toThrow();
  });
  it('mIoU top 20%: ⌈3.2⌉ = 4 pixels, |B∩G| = 2, |B∪G| = 6', () => {
    expect(topCount(0.2, 16)).toBe(4);
    expect(topCount(0.15, 20)).toBe(3);
    expect(topFractionIoU(MAP, BOX)).toBeCloseTo(1 / 3, 12);
    expect([...topMask(MAP, 4)].map((v, i) => (v ? i : -1)).filter((i) => i >= 0)).toEqual([5, 6, 8, 15]);
  });
  it('pointing game: first arg-max, strict tolerance, class mean', () => {
    expect(pointOf(MAP)).toEqual([1, 1]);
    expect(pointingHit(MAP, BOX, { tolerance: 0.5 })).toBe(true);
    // Peak at (0, 1): the nearest box pixel (1, 1) is at distance 1, so tolerance 1 misses (strict).
    const off = new Float32Array(16); off[4] = 1; off[7] = 1;
    expect(pointOf(off, 4)).toEqual([0, 1]);
    expect(pointingHit(off, BOX, { tolerance: 1, width: 4 })).toBe(false);
    expect(pointingHit(off, BOX, { tolerance: 1.01, width: 4 })).toBe(true);
    expect(pointingHit(off, BOX, { width: 4 })).toBe(true);
    const r = pointingGame([
      { classId: 'a', map: MAP, mask: BOX },
      { classId: 'a', map: MAP, mask: BOX },
      { classId: 'a', map: off, mask: BOX, width: 4 },
      { classId: 'b', map: off, mask: BOX, width: 4 },
    ], { tolerance: 1 });
    expect(r.perClass.get('a')).toEqual({ hits: 2, misses: 1, accuracy: 2 / 3 });
    expect(r.perClass.get('b')!.accuracy).toBe(0);
    expect(r.mean).toBeCloseTo(1 / 3, 12);
  });
  it('summary in percent', () => {
    const s = groundTruthMetrics([{ classId: 1, map: MAP, mask: BOX }]);
    expect(s.ebpg).toBeCloseTo(40.625, 4);
    expect(s.bbox).toBe(50);
    expect(s.miou).toBeCloseTo(100 / 3, 8);
    expect(s.pointing).toBe(100);
  });
  it('min-max normalisation (ε = 1e-6; constant → zeros)', () => {
    const n = minMaxNormalise(MAP);
    expect(n[5]).toBeCloseTo(0.9 / (0.9 + 1e-6), 12);
    expect(n[7]).toBe(0);
    expect([...minMaxNormalise([2, 2])]).toEqual([0, 0]);
  });
});

// ---- float64 reference on random maps ----
function rankRef(v: ArrayLike<number>): number[] {
  return Array.from({ length: v.length }, (_, p) => {
    let r = 0;
    for (let q = 0; q < v.length; q++) if (v[q]! > v[p]! || (v[q] === v[p] && q < p)) r++;
    return r;
  });
}

describe('random maps against the float64 reference', () => {
  it('EBPG, Bbox, IoU, pointing game', () => {
    const r = rng(11);
    for (let trial = 0; trial < 20; trial++) {
      const w = 5 + Math.floor(r() * 20), h = 5 + Math.floor(r() * 20), P = w * h;
      // Quantised values so that ties occur.
      const v = Float32Array.from({ length: P }, () => Math.round(r() * 12) / 4 - 1);
      const x0 = Math.floor(r() * w), y0 = Math.floor(r() * h);
      const box = { xmin: x0, ymin: y0, xmax: Math.min(w - 1, x0 + Math.floor(r() * 6)), ymax: Math.min(h - 1, y0 + Math.floor(r() * 6)) };
      const G = Array.from({ length: P }, (_, i) => (i % w >= box.xmin && i % w <= box.xmax && Math.floor(i / w) >= box.ymin && Math.floor(i / w) <= box.ymax ? 1 : 0));
      const mask = boxesToMask([box], w, h);
      expect([...mask]).toEqual(G);
      const map = { width: w, height: h, data: v };
      const lo = Math.min(...v);
      let inE = 0, allE = 0;
      v.forEach((x, i) => { allE += x - lo; if (G[i]) inE += x - lo; });
      expect(energyPointingGame(map, mask)).toBeCloseTo(allE > 0 ? inE / allE : 0, 10);
      const rank = rankRef(v);
      const n = G.reduce((a: number, b) => a + b, 0);
      expect(bboxScore(map, mask)).toBeCloseTo(rank.filter((rk, i) => rk < n && G[i]).length / n, 12);
      const k = Math.ceil(0.2 * P - 1e-9);
      const inter = rank.filter((rk, i) => rk < k && G[i]).length;
      expect(topFractionIoU(map, mask)).toBeCloseTo(inter / (k + n - inter), 12);
      const peak = rank.indexOf(0);
      const tol = 1 + r() * 8;
      const hit = G.some((g, i) => g && ((i % w) - (peak % w)) ** 2 + (Math.floor(i / w) - Math.floor(peak / w)) ** 2 < tol * tol);
      expect(pointingHit(map, mask, { tolerance: tol })).toBe(hit);
    }
  });
});
