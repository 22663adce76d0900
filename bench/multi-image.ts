/**
 * Many images per call against one call per image: Grad-CAM over N shared ImageNet photos on
 * SqueezeNet, `explain(model, images, ...)` once (batched forward and backward passes) against N
 * `explainImage` calls, in images per second; the maps are checked equal. Appends a section to
 * bench/RESULTS.md naming the adapter (`--results PATH`, `--images N`, default 32).
 *   npx tsx bench/multi-image.ts [--images 32] [--results bench/RESULTS.md]
 */
import { appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execSync } from 'node:child_process';
import { createNodeGpu } from '../src/node.js';
import { Model } from '../src/runtime/model.js';
import { explain, explainImage } from '../src/xai/explain.js';
import { PRESETS } from '../src/xai/preprocess.js';
import { readImage } from '../src/image-io.js';

const { values } = parseArgs({ options: { images: { type: 'string' }, results: { type: 'string' }, methods: { type: 'string' } } });
const N = Number(values.images ?? 32);
const SHARED = join(import.meta.dirname, '..', '..', 'shared');
const dir = join(SHARED, 'images', 'imagenet-val');
const files = readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, N);
const images = files.map((f) => readImage(join(dir, f)));
const gpu = await createNodeGpu();
const model = await Model.load(new Uint8Array(readFileSync(join(SHARED, 'models', 'squeezenet1.1-fp32.onnx'))), { gpu, tune: false });
const rows: string[] = [];
for (const method of (values.methods ?? 'gradcam,layercam').split(',')) {
  for (const batchSize of [8, 32]) {
    // Warm-up: plans at this batch and at 1 built, kernels compiled.
    await explain(model, images.slice(0, Math.min(batchSize, N)), { method, preprocessing: PRESETS.caffe, batchSize });
    await explainImage(model, images[0]!, PRESETS.caffe, method);
    let t = performance.now();
    const batched = await explain(model, images, { method, preprocessing: PRESETS.caffe, batchSize });
    const oneCall = performance.now() - t;
    t = performance.now();
    const single: Awaited<ReturnType<typeof explainImage>>[] = [];
    for (const img of images) single.push(await explainImage(model, img, PRESETS.caffe, method));
    const perImage = performance.now() - t;
    let diff = 0;
    batched.forEach((l, i) => l[0]!.map.data.forEach((v, p) => { diff = Math.max(diff, Math.abs(v - single[i]!.map.data[p]!)); }));
    rows.push(`| ${method} | ${N} | ${batchSize} | ${(N / (oneCall / 1000)).toFixed(2)} | ${(N / (perImage / 1000)).toFixed(2)} | ${(perImage / oneCall).toFixed(2)}x | ${diff.toExponential(1)} |`);
    console.log(rows[rows.length - 1]);
  }
}
const commit = (() => { try { return execSync('git rev-parse --short HEAD').toString().trim(); } catch { return '?'; } })();
const section = [
  '', `## ${gpu.adapterName}: many images per call (bench/multi-image.ts)`, '',
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · commit ${commit} · SqueezeNet 1.1 fp32, tune: false, ${N} images of shared/images/imagenet-val (caffe preset), each image's top-1 class. One call: \`explain(model, images, { method, batchSize })\` (top-1 classes in one batched forward pass, then batched forward and backward passes of batchSize rows); per image: one \`explainImage\` call each. Both after a warm-up call.`, '',
  '| method | images | batchSize | one call, images/s | one call per image, images/s | speed-up | max map difference |', '|---|---:|---:|---:|---:|---:|---:|',
  ...rows, '',
].join('\n');
if (values.results) appendFileSync(values.results, section);
console.log(section);
model.destroy();
gpu.destroy();
