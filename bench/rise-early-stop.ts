/**
 * What RISE's early stop (RiseOptions.tolerance) costs in fidelity: per image, one full run of N
 * masks records the map's change at every checkpoint (tolerance too small to stop), which tells
 * where each tolerance would stop; RISE with masks = that count is then exactly the early-stopped
 * result (masks are drawn by index), and its map is compared with the full-N map (Spearman on the
 * spec 0.3 normalised maps). The peer here is RISE itself at the paper's N, in the same run.
 *
 *   npm run bench:rise-stop -- [--model squeezenet1.1-fp32.onnx] [--images 2] [--masks 4000] [--check-every 250]
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openModel, preprocessingFor, SHARED } from '../tools/cli-common.js';
import { readImage } from '../src/image-io.js';
import { preprocessImage } from '../src/xai/preprocess.js';
import { rise } from '../src/xai/rise.js';
import { spearman } from './xai-sise-js.js';
import { spliceSection } from './results-file.js';

const TOLERANCES = [0.05, 0.04, 0.03];

const { values } = parseArgs({ options: {
  model: { type: 'string', default: 'squeezenet1.1-fp32.onnx' }, images: { type: 'string', default: '2' },
  masks: { type: 'string', default: '4000' }, 'check-every': { type: 'string', default: '250' }, batch: { type: 'string', default: '32' },
} });
const N = Number(values.masks), every = Number(values['check-every']), batchSize = Number(values.batch);
const dir = join(SHARED, 'images', 'imagenet-val');
const files = readdirSync(dir).filter((f) => f.endsWith('.JPEG')).sort().slice(0, Number(values.images));

const { model, gpu } = await openModel(join(SHARED, 'models', values.model!));
const rows: string[] = [], trails: string[] = [];
try {
  const { p } = preprocessingFor(model, undefined);
  for (const f of files) {
    const x = preprocessImage(await readImage(join(dir, f)), p).tensor;
    const t0 = performance.now();
    const full = await rise(model, x, { masks: N, batchSize, tolerance: 1e-12, checkEvery: every });
    const fullMs = performance.now() - t0;
    const errors = full.params['errorEstimates'] as number[], checkedAt = full.params['checkedAt'] as number[];
    trails.push(`- ${f} (class ${full.classIndex}), masks: estimate: ${errors.map((c, i) => `${checkedAt[i]}: ${c.toFixed(3)}`).join(', ')}`);
    console.error(trails.at(-1));
    for (const tol of TOLERANCES) {
      const k = errors.findIndex((c) => c < tol);
      const used = k < 0 ? N : checkedAt[k]!;
      const t1 = performance.now();
      const stopped = used === N ? full : await rise(model, x, { masks: N, batchSize, tolerance: tol, checkEvery: every });
      const ms = used === N ? fullMs : performance.now() - t1;
      if (stopped.params['masksUsed'] !== undefined && stopped.params['masksUsed'] !== used) throw new Error(`expected a stop at ${used}, got ${String(stopped.params['masksUsed'])}`);
      const rho = spearman(stopped.map.data, full.map.data);
      let mad = 0;
      for (let q = 0; q < full.map.data.length; q++) mad += Math.abs(stopped.map.data[q]! - full.map.data[q]!);
      mad /= full.map.data.length;
      const est = k < 0 ? '–' : errors[k]!.toFixed(4);
      rows.push(`| ${f} | ${full.classIndex} | ${tol} | ${used} | ${(100 * used / N).toFixed(0)} % | ${(ms / 1000).toFixed(1)} | ${(fullMs / 1000).toFixed(1)} | ${est} | ${mad.toFixed(4)} | ${rho.toFixed(4)} |`);
      console.error(rows.at(-1));
    }
  }
} finally {
  model.destroy();
  gpu.destroy();
}

const section = [
  `## ${gpu.adapterName}: RISE early stop`,
  '',
  `\`npm run bench:rise-stop\`, ${values.model}, ${files.length} shared ImageNet photos, RISE paper settings (N ${N}, s 7, p 0.5, softmax), batch ${batchSize}, a check every ${every} masks. ` +
  'The estimate is the error the stop rule saw (split-half, d·√(nA·nB)/n, RiseOptions.tolerance); "mean |Δ| vs full" and Spearman compare the early-stopped map with the full-N map of the same run (both min-max normalised, 50 176 pixels), which carries Monte-Carlo error of its own. Time includes the classification pass.',
  '',
  '| image | class | tolerance | masks used | of N | time (s) | full N (s) | error estimate at stop | mean abs diff vs full | Spearman vs full |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  'The split-half error estimate at every check of the full runs:',
  '',
  ...trails,
].join('\n');
console.log(section);
spliceSection('bench/RESULTS.md', 'bench-rise-stop', gpu.adapterName, section);
