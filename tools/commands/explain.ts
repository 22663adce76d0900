/**
 * `explain`: saliency maps of one or more images with one or more methods, written as overlays
 * (PNG), raw maps (.npy) and summaries (JSON). Everything is validated and computed first; files
 * are written only at the end, each to a temporary name then renamed, so a failure leaves none and
 * keeps every earlier file as it was. `--images` hands a dataset run to tools/dataset/.
 */
import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { encodePng, readImage } from '../../src/image-io.js';
import { explainImage, methodParameters, METHODS, type MethodOptions } from '../../src/xai/explain.js';
import { preprocessImage, PRESETS, type RgbaImage } from '../../src/xai/preprocess.js';
import { detectBlocks } from '../../src/xai/blocks.js';
import type { Explanation } from '../../src/xai/explanation.js';
import { InputError } from '../../src/runtime/errors.js';
import { checkOutputDir, loadLabels, openModel, preprocessingFromArgs, PREPROCESS_ARGS, PREPROCESS_HELP, resolveImagePath, resolveModelPath, toProbabilities, topK, OutputError, UsageError, MODEL_DEFAULT_HELP, IMAGE_DEFAULT_HELP } from '../cli-common.js';
import { checkMethodParameters } from '../method-params.js';
import { writeFilesAtomically } from '../dataset/atomic-write.js';
import { explainDataset } from '../dataset/explain-command.js';
import { colorbarWidth, encodeNpyFloat32, overlayGrid, heatmapOverlay, overlayWithColorbar } from '../../src/render.js';

export const explainHelp = `Usage: webgpu-xai explain [--model M.onnx] [--image I ...] [--method NAME ...] [options]

Explains a classifier's decision: writes heatmap overlays, raw maps and summaries.

  --model PATH     ONNX classifier (default: ${MODEL_DEFAULT_HELP})
  --image PATH     image file, JPEG or PNG; repeat for several (${IMAGE_DEFAULT_HELP})
  --images SPEC    a dataset instead: a folder (recursive), a list file or a glob; resumable run
                   with an index (docs/datasets.md)
  --method NAME    ${Object.keys(METHODS).join(' | ')}; repeat or comma-separate for several (default: sise)
  --class K        class index to explain (default: each image's top-1 class)
  --out DIR        output folder, created if missing (default: ./out)
${PREPROCESS_HELP}
  --labels PATH    class names, one per line (default: ImageNet names for 1000-class models)
  --batch N        masked forward passes per GPU batch (every perturbation method; default 32);
                   with --images, also the images a gradient CAM explains at once (default 8)
  --seed N         seed of the sampling methods (RISE, mask-opt, LIME, E-LIME; default 0)
  --param K=V      a method option by name, repeatable, e.g. --param masks=1000 (RISE),
                   --param samples=300 (LIME), --param iterations=50 (mask-opt, IASSA);
                   the library's option names (see the README); checked before any run
  --mu X           SISE's channel threshold ratio in [0, 1] (default 0: every positive-gradient channel)
  --layers A,B     tensors to probe (SISE family), shallow to deep; the CAMs use the last one
                   (default: the detected block outputs; see 'webgpu-xai layers')
  -h, --help       this text

For each image I and method M, in DIR:
  I.M.png    the map over the original image (viridis, 50 % opacity) with a colour bar on the
             right (0 to 1): width = image width + 20 px per 112 px of image height (40 px at 224)
  I.M.npy    the raw map at model-input resolution, float32 [H, W]
  I.M.json   class, score, parameters, passes, timings, adapter, model, image size
  I.grid.png all methods' overlays side by side with titles (when several methods are given)`;

/** A file to write at the end. */
interface Pending { path: string; bytes: Uint8Array | string }

export async function explain(argv: string[]): Promise<void> {
  // parseArgs reads '--class -1' as two options and says 'ambiguous'; the user meant a class.
  const ci = argv.findIndex((a) => a === '--class');
  if (ci >= 0 && argv[ci + 1]?.startsWith('-')) throw new UsageError(`--class must be a class index in 0..K-1 (K: the model's number of classes), got '${argv[ci + 1]}'`);
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, image: { type: 'string', multiple: true }, method: { type: 'string', multiple: true },
    class: { type: 'string' }, out: { type: 'string' }, ...PREPROCESS_ARGS, labels: { type: 'string' },
    batch: { type: 'string' }, mu: { type: 'string' }, layers: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    seed: { type: 'string' }, param: { type: 'string', multiple: true }, images: { type: 'string' },
  }, strict: true });
  if (values.help) { console.log(explainHelp); return; }
  if (values.images !== undefined) return explainDataset({ ...values, images: values.images });

  // ---- arguments (no GPU, no files touched)
  const methods = [...new Set((values.method ?? ['sise']).flatMap((m) => m.split(',')).map((m) => m.trim().toLowerCase()).filter(Boolean))];
  if (!methods.length) throw new UsageError('--method is empty');
  for (const m of methods) if (!(m in METHODS)) throw new UsageError(`unknown method '${m}' (available: ${Object.keys(METHODS).join(', ')})`);
  const classIndex = values.class === undefined ? undefined : Number(values.class);
  if (classIndex !== undefined && (values.class!.trim() === '' || !Number.isInteger(classIndex) || classIndex < 0)) throw new UsageError(`--class must be a class index in 0..K-1 (K: the model's number of classes), got '${values.class}'`);
  const batchSize = values.batch === undefined ? undefined : Number(values.batch);
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) throw new UsageError(`--batch must be a positive integer, got '${values.batch}'`);
  const mu = values.mu === undefined ? undefined : Number(values.mu);
  if (mu !== undefined && (values.mu!.trim() === '' || !(mu >= 0 && mu <= 1))) throw new UsageError(`--mu must be a number in [0, 1], got '${values.mu}'`);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && (values.seed!.trim() === '' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) throw new UsageError(`--seed must be an integer in [0, 2^32), got '${values.seed}'`);
  const perMethod = new Map<string, Partial<MethodOptions>>();
  for (const m of methods) {
    try {
      const params = methodParameters(m, values.param ?? [], methods);
      checkMethodParameters(m, { ...(seed !== undefined ? { seed } : {}), ...(batchSize !== undefined ? { batchSize } : {}), ...params });
      perMethod.set(m, params);
    } catch (e) { throw new UsageError(`--param${m ? ` (${m})` : ''}: ${(e as Error).message}`); }
  }
  const layers = values.layers === undefined ? undefined : values.layers.split(',').map((l) => l.trim()).filter(Boolean);
  if (layers && !layers.length) throw new UsageError('--layers is empty');
  if (values.preset !== undefined && !(values.preset in PRESETS)) throw new UsageError(`unknown preset '${values.preset}' (known: ${Object.keys(PRESETS).join(', ')})`);
  const outDir = resolve(values.out ?? 'out');
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new UsageError(`--out ${values.out} exists and is not a folder`);
  checkOutputDir(outDir);
  const modelPath = resolveModelPath(values.model);
  const imagePaths = (values.image ?? [undefined]).map(resolveImagePath);
  const stems = imagePaths.map((p) => basename(p, extname(p)));
  const dup = stems.find((s, i) => stems.indexOf(s) !== i);
  if (dup !== undefined) throw new UsageError(`two images share the name '${dup}': their output files would collide (run them separately or rename one)`);
  const images = imagePaths.map((p) => readImage(p));

  // ---- model, classification, validation of class and layers
  const { model, gpu, loadMs } = await openModel(modelPath);
  try {
    const inputShape = [...model.inputShapes(1).values()][0]!;
    if (inputShape.length !== 4) throw new InputError(`the model input is [${inputShape.join(', ')}]; explanations need an image input [1, C, H, W]`);
    const { name: presetName, p } = preprocessingFromArgs(model, values);
    if (layers) detectBlocks(model, { layers }); // names and shapes checked before any long run
    console.log(`adapter: ${gpu.adapterName}`);
    console.log(`model:   ${basename(modelPath)} (load + kernel warm-up ${loadMs.toFixed(0)} ms), preprocessing: ${presetName}`);

    const prepared = images.map((img) => preprocessImage(img, p));
    const per = prepared[0]!.tensor.length;
    const input = new Float32Array(per * prepared.length);
    prepared.forEach((b, i) => input.set(b.tensor, i * per));
    const { outputs } = await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: [prepared.length, ...prepared[0]!.shape.slice(1)], data: input } });
    const out = outputs[model.outputs[0]!.name]!.data;
    const classes = out.length / prepared.length;
    if (classIndex !== undefined && classIndex >= classes) throw new UsageError(`--class ${classIndex} is out of range: the model has ${classes} classes (0..${classes - 1})`);
    const labels = loadLabels(values.labels, classes);
    const nameOf = (k: number) => labels?.[k] ?? `class ${k}`;

    const baseOpts: MethodOptions = { classIndex, batchSize, mu, layers, layer: layers?.[layers.length - 1], seed };
    const pending: Pending[] = [];
    const overlays: string[] = [];
    for (const [i, img] of images.entries()) {
      const scores = out.slice(i * classes, (i + 1) * classes) as Float32Array;
      const { probs } = toProbabilities(scores);
      const top5 = topK(probs, Math.min(5, classes));
      console.log(`\n${imagePaths[i]} (${img.width}x${img.height})`);
      for (const k of top5) console.log(`  ${String(k).padStart(4)}  ${(probs[k]! * 100).toFixed(2).padStart(6)}%  ${nameOf(k)}`);
      const target = classIndex ?? top5[0]!;
      console.log(`explaining class ${target} (${nameOf(target)})`);

      const tiles: { title: string; image: RgbaImage }[] = [];
      for (const method of methods) {
        const t0 = performance.now();
        const e = await explainImage(model, img, p, method, { ...baseOpts, ...perMethod.get(method), onProgress: progressPrinter(method) });
        const wall = performance.now() - t0;
        clearProgress();
        console.log(`  ${method.padEnd(10)} ${(wall / 1000).toFixed(1)} s, ${e.forwardPasses} forward + ${e.backwardPasses} backward passes, score ${e.score.toPrecision(4)} (${e.scoreMode})`);
        const stem = join(outDir, `${stems[i]}.${method}`);
        pending.push({ path: `${stem}.png`, bytes: encodePng(overlayWithColorbar(img, e.original!)) });
        pending.push({ path: `${stem}.npy`, bytes: encodeNpyFloat32(e.map.data, [e.map.height, e.map.width]) });
        pending.push({ path: `${stem}.json`, bytes: JSON.stringify(summary(e, { method, wall, nameOf, adapter: gpu.adapterName, modelPath, imagePath: imagePaths[i]!, img, presetName, top5, probs }), null, 2) + '\n' });
        overlays.push(`${stem}.png`);
        if (methods.length > 1) tiles.push({ title: method, image: heatmapOverlay(img, e.original!) });
      }
      if (tiles.length > 1) pending.push({ path: join(outDir, `${stems[i]}.grid.png`), bytes: encodePng(overlayGrid(tiles)) });
    }

    writeFilesAtomically(pending);
    console.log(`\nwrote ${pending.length} files to ${outDir} (overlay width = image width + ${images.map((im) => colorbarWidth(im.height)).filter((v, k, a) => a.indexOf(v) === k).join('/')} px colour bar)`);
    for (const o of overlays) console.log(`overlay: ${o}`);
  } finally {
    model.destroy();
    gpu.destroy();
  }
}

export function summary(e: Explanation, c: {
  method: string; wall: number; nameOf: (k: number) => string; adapter: string; modelPath: string; imagePath: string;
  img: RgbaImage; presetName: string; top5: number[]; probs: Float32Array;
}): Record<string, unknown> {
  let min = Infinity, max = -Infinity;
  for (const v of e.map.data) { min = Math.min(min, v); max = Math.max(max, v); }
  return {
    method: c.method,
    params: e.params,
    // Sampling methods report their seed; deterministic ones have none.
    seed: (e.params.seed as number | undefined) ?? null,
    class: { index: e.classIndex, name: c.nameOf(e.classIndex) },
    score: e.score,
    scoreMode: e.scoreMode,
    forwardPasses: e.forwardPasses,
    backwardPasses: e.backwardPasses,
    timingsMs: { ...e.timings, total: c.wall },
    adapter: c.adapter,
    model: { file: basename(c.modelPath), path: resolve(c.modelPath) },
    image: { file: basename(c.imagePath), path: resolve(c.imagePath), width: c.img.width, height: c.img.height },
    input: { width: e.map.width, height: e.map.height, preset: c.presetName },
    map: { min, max },
    top5: c.top5.map((k) => ({ index: k, name: c.nameOf(k), probability: c.probs[k] })),
  };
}

// Progress of long methods on a terminal: one line, rewritten at most every half second.
let lastProgress = 0, progressShown = false;
function progressPrinter(method: string) {
  return ({ phase, done, total }: { phase: string; done: number; total: number }) => {
    if (!process.stderr.isTTY) return;
    const now = performance.now();
    if (now - lastProgress < 500 && done < total) return;
    lastProgress = now;
    progressShown = true;
    process.stderr.write(`\r  ${method}: ${phase} ${done}/${total}   `);
  };
}
function clearProgress(): void {
  if (progressShown) process.stderr.write('\r\x1b[K');
  progressShown = false;
}
