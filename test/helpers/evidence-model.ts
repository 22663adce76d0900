/**
 * A hand-built CNN whose evidence region is known: class 0 is "there is something bright", and the
 * only bright thing in the test image is a square. Any sound saliency method must put the map's
 * peak and most of its energy inside the square.
 */
import { GraphBuilder, Rng } from '../../tools/onnx-writer.js';

export const EVIDENCE = { size: 32, square: { x0: 18, y0: 6, x1: 28, y1: 16 } };

export function evidenceModel(): Uint8Array {
  const rng = new Rng(77);
  const g = new GraphBuilder('bright-square', 13);
  g.input('image', [1, 3, EVIDENCE.size, EVIDENCE.size]);
  const w1 = new Float32Array(4 * 3 * 9);
  for (let i = 0; i < 27; i++) w1[i] = 1 / 27; // channel 0: local brightness
  for (let i = 27; i < w1.length; i++) w1[i] = rng.normal() * 0.05;
  const c1 = g.op('Conv', ['image', g.initializer('w1', [4, 3, 3, 3], w1), g.initializer('b1', [4], Float32Array.of(-0.2, 0, 0, 0))], { pads: [1, 1, 1, 1] });
  g.node('Relu', [c1], ['features1']);
  const p = g.op('MaxPool', ['features1'], { kernel_shape: [2, 2], strides: [2, 2] });
  const w2 = new Float32Array(4 * 4 * 9);
  for (let k = 0; k < 9; k++) w2[k] = 1 / 9; // channel 0 keeps averaging brightness
  for (let i = 36; i < w2.length; i++) w2[i] = rng.normal() * 0.05;
  const c2 = g.op('Conv', [p, g.initializer('w2', [4, 4, 3, 3], w2), g.initializer('b2', [4], new Float32Array(4))], { pads: [1, 1, 1, 1] });
  g.node('Relu', [c2], ['features2']);
  const gap = g.op('GlobalAveragePool', ['features2']);
  const f = g.op('Flatten', [gap]);
  g.node('Gemm', [f, g.initializer('w3', [2, 4], Float32Array.of(8, 0.1, -0.1, 0.1, -8, 0.1, 0.1, -0.1)), g.initializer('b3', [2], Float32Array.of(-1, 1))], ['logits'], { transB: 1 });
  g.output('logits');
  return g.toBytes();
}

/** Dark noisy background with one bright square; [1, 3, S, S]. */
export function evidenceImage(seed = 5): Float32Array {
  const rng = new Rng(seed);
  const { size: S, square: q } = EVIDENCE;
  const x = new Float32Array(3 * S * S);
  for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) {
    const inside = xx >= q.x0 && xx < q.x1 && y >= q.y0 && y < q.y1;
    x[(c * S + y) * S + xx] = inside ? 2 + rng.normal() * 0.1 : -1 + rng.normal() * 0.3;
  }
  return x;
}

/** Share of the map's energy inside the square, and whether its peak is inside. */
export function evidenceScore(map: Float32Array): { peakInside: boolean; energyInside: number; areaShare: number } {
  const { size: S, square: q } = EVIDENCE;
  let best = 0, inside = 0, total = 0;
  for (let p = 0; p < S * S; p++) {
    const x = p % S, y = Math.floor(p / S);
    const isIn = x >= q.x0 && x < q.x1 && y >= q.y0 && y < q.y1;
    if (map[p]! > map[best]!) best = p;
    total += Math.max(0, map[p]!);
    if (isIn) inside += Math.max(0, map[p]!);
  }
  const bx = best % S, by = Math.floor(best / S);
  return { peakInside: bx >= q.x0 && bx < q.x1 && by >= q.y0 && by < q.y1, energyInside: total ? inside / total : 0, areaShare: ((q.x1 - q.x0) * (q.y1 - q.y0)) / (S * S) };
}
