/**
 * Every method's map on one shared photo with small settings, written to a JSON file; given a
 * second file, the largest absolute difference per method. Used to show that a refactoring of the
 * explainer core leaves the maps as they were:
 *   npx tsx bench/map-diff.ts before.json            (on the old commit)
 *   npx tsx bench/map-diff.ts after.json before.json (on the new one: prints the differences)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeGpu } from '../src/node.js';
import { Model } from '../src/runtime/model.js';
import { explainImage, type MethodOptions } from '../src/xai/explain.js';
import { PRESETS } from '../src/xai/preprocess.js';
import { readImage } from '../src/image-io.js';

const SHARED = join(import.meta.dirname, '..', '..', 'shared');
const SETTINGS: Record<string, MethodOptions> = {
  sise: { layers: ['fire9/concat_1', 'conv10_2'], mu: 0.5, batchSize: 16 },
  'ada-sise': { layers: ['fire9/concat_1', 'conv10_2'], batchSize: 16 },
  gradcam: {},
  'gradcam++': {},
  scorecam: { layer: 'fire5/concat_1', batchSize: 32 },
  rise: { masks: 64, seed: 3, batchSize: 16 },
  iassa: { iterations: 2, batchSize: 16 },
  'mask-opt': { iterations: 3, pairs: 4, seed: 2, batchSize: 8 },
  lime: { samples: 64, seed: 5, batchSize: 16 },
  'e-lime': { populationSize: 12, maxGenerations: 2, seed: 4, batchSize: 12 },
};

const [out, against] = process.argv.slice(2);
if (!out) throw new Error('usage: map-diff.ts OUT.json [BEFORE.json]');
const only = process.env.METHODS?.split(',');
const gpu = await createNodeGpu();
const model = await Model.load(new Uint8Array(readFileSync(join(SHARED, 'models', 'squeezenet1.1-fp32.onnx'))), { gpu, tune: false });
const image = readImage(join(SHARED, 'images', 'misc', 'catdog.rise.png'));
const maps: Record<string, number[]> = {};
for (const [method, opts] of Object.entries(SETTINGS)) {
  if (only && !only.includes(method)) continue;
  const t = performance.now();
  const e = await explainImage(model, image, PRESETS.caffe, method, opts);
  maps[method] = Array.from(e.map.data);
  console.log(`${method}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
writeFileSync(out, JSON.stringify(maps));
if (against && existsSync(against)) {
  const before = JSON.parse(readFileSync(against, 'utf8')) as Record<string, number[]>;
  for (const [m, a] of Object.entries(maps)) {
    const b = before[m];
    if (!b) { console.log(`${m}: not in ${against}`); continue; }
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    console.log(`${m}: max |after - before| = ${d.toExponential(2)}`);
  }
}
model.destroy();
gpu.destroy();
