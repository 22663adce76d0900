/**
 * `evaluate`: every metric for every method over a folder of images with box annotations (the
 * format of ../shared/images/imagenet-val), next to a centre-prior map and a random map on the same
 * images (platform notes: box metrics have a high chance level on ImageNet), with the subset whose
 * boxes cover at most half of the crop reported separately.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readImage } from '../../src/image-io.js';
import { openModel, preprocessingFromArgs, PREPROCESS_ARGS, PREPROCESS_HELP, resolveModelPath, SHARED, UsageError, MODEL_DEFAULT_HELP, FROM_SOURCE } from '../cli-common.js';
import { preprocessImage, type ImageTransform, type Preprocessing, type RgbaImage } from '../../src/xai/preprocess.js';
import { METHODS, type MethodOptions } from '../../src/xai/explain.js';
import type { Model } from '../../src/runtime/model.js';
import { mapToOriginal, type SaliencyMap } from '../../src/xai/explanation.js';
import { boxesToMask, bboxScore, deletionInsertionBatch, dropIncrease, energyPointingGame, pointingHit, topFractionIoU } from '../../src/xai/metrics/index.js';
import { csv, fmt, markdownTable, ProgressBar, summarise, type Summary } from '../eval-stats.js';

export const evaluateHelp = `Usage: webgpu-xai evaluate [--model M.onnx] [--images DIR] [--methods LIST] [options]

Runs every metric for every method over a folder of images with annotations.json (boxes in the
original images' pixels), next to 'center' and 'random' maps,
and writes a table of means with 95% intervals as Markdown and CSV.

  --model PATH        ONNX classifier (default: ${MODEL_DEFAULT_HELP})
  --images DIR        image folder (${FROM_SOURCE ? 'default: ../shared/images/imagenet-val' : 'required'})
  --annotations FILE  default: DIR/annotations.json
  --methods LIST      comma-separated: ${Object.keys(METHODS).join(', ')} (default: sise,gradcam)
  --limit N           first N images only
  --step N            pixels per deletion/insertion step (default 1792 = 224·8, the RISE batch setting)
  --batch N           forward passes per batch (default 32)
  --mu X              SISE's μ (default 0)
${PREPROCESS_HELP}
  --out DIR           where evaluation.md and evaluation.csv go (default: out/eval)
  -h, --help          this text`;

export interface Annotation { file: string; width: number; height: number; label_index: number; boxes: number[][] }

export const METRICS = ['EBPG', 'Bbox', 'mIoU', 'Pointing', 'Deletion AUC', 'Insertion AUC', 'Drop %', 'Increase %'] as const;
export type Metric = (typeof METRICS)[number];

/** Gaussian centre prior (σ = a quarter of the side) and a seeded uniform random map. */
function priorMap(kind: 'center' | 'random', h: number, w: number, seed: number): SaliencyMap {
  const data = new Float32Array(h * w);
  let s = seed >>> 0 || 1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (kind === 'center') data[y * w + x] = Math.exp(-(((x - w / 2) / (w / 4)) ** 2 + ((y - h / 2) / (h / 4)) ** 2) / 2);
    else { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; data[y * w + x] = (s >>> 0) / 4294967296; }
  }
  return { width: w, height: h, data };
}

/** Share of the centre crop covered by the boxes (for the "small objects" subset). */
function cropCoverage(a: Annotation, t: ImageTransform): number {
  const mask = boxesToMask(a.boxes.map(([xmin, ymin, xmax, ymax]) => ({ xmin: xmin!, ymin: ymin!, xmax: xmax!, ymax: ymax! })), a.width, a.height);
  let inCrop = 0, covered = 0;
  for (let y = 0; y < a.height; y++) for (let x = 0; x < a.width; x++) {
    const rx = (x + 0.5) * t.scale - t.cropX, ry = (y + 0.5) * t.scale - t.cropY;
    if (rx < 0 || ry < 0 || rx >= t.size || ry >= t.size) continue;
    inCrop++;
    if (mask[y * a.width + x]) covered++;
  }
  return inCrop ? covered / inCrop : 0;
}

/** One image's metric values for one method (or prior map). */
export interface EvalRow { file: string; method: string; small: boolean; values: Partial<Record<Metric, number>>; hit: boolean; classId: number }

export interface EvaluateOptions {
  methods: readonly string[];
  /** Pixels per deletion/insertion step. */
  step: number;
  /** Forward passes per batch. */
  batch: number;
  /** SISE's μ. */
  mu: number;
  /** Extra options per method (e.g. `{ rise: { masks: 500 } }`), merged over the defaults above. */
  methodOptions?: Readonly<Record<string, MethodOptions>>;
  /** Called after each method on each image: units done (image × method) and a label. */
  onProgress?: (done: number, label: string) => void;
}

export interface EvaluationResult {
  /** The evaluated methods followed by the 'center' and 'random' prior maps. */
  methods: string[];
  rows: EvalRow[];
  /** Wall time spent in each method's explanation calls (labelled and, where it differs, top-1 class) and how many calls. */
  methodTime: Record<string, { ms: number; explanations: number }>;
  /** Wall time of the metric passes (deletion/insertion, Drop/Increase) over all maps. */
  metricsMs: number;
}

export interface MethodSummary { images: number; metrics: Record<Metric, Summary> }

/** Reads annotations.json (default: DIR/annotations.json) and the first `limit` images it lists. */
export function loadAnnotatedImages(dir: string, annotations: string | undefined, limit = Infinity): { a: Annotation; img: ReturnType<typeof readImage> }[] {
  const annPath = annotations ?? join(dir, 'annotations.json');
  if (!existsSync(annPath)) throw new UsageError(`annotations not found: ${annPath}`);
  let anns: Annotation[];
  try {
    anns = (JSON.parse(readFileSync(annPath, 'utf8')) as { images: Annotation[] }).images.slice(0, limit);
  } catch (e) {
    throw new UsageError(`cannot read annotations ${annPath}: ${(e as Error).message}`);
  }
  if (!anns?.length) throw new UsageError(`${annPath} lists no images`);
  return anns.map((a) => ({ a, img: readImage(join(dir, a.file)) }));
}

/** Every metric for every method (and the two prior maps) on every image: per-image rows. */
export async function evaluateImages(model: Model, images: readonly { a: Annotation; img: RgbaImage }[], p: Preprocessing, o: EvaluateOptions): Promise<EvaluationResult> {
  const { methods, step, batch, mu } = o;
  const allMethods = [...methods, 'center', 'random'];
  const perImage: EvalRow[] = [];
  const methodTime: EvaluationResult['methodTime'] = Object.fromEntries(methods.map((m) => [m, { ms: 0, explanations: 0 }]));
  let metricsMs = 0;
  let done = 0;
  for (const { a, img } of images) {
    const prep = preprocessImage(img, p);
    const small = cropCoverage(a, prep.transform) <= 0.5;
    const mask = boxesToMask(a.boxes.map(([xmin, ymin, xmax, ymax]) => ({ xmin: xmin!, ymin: ymin!, xmax: xmax!, ymax: ymax! })), a.width, a.height);
    const maps: { method: string; gt: SaliencyMap; top: SaliencyMap; topClass?: number }[] = [];
    for (const m of methods) {
      const opts = { batchSize: batch, mu, ...o.methodOptions?.[m] };
      const t = methodTime[m]!;
      // Ground-truth metrics explain the labelled class; model-truth metrics the top-1 class.
      let t0 = performance.now();
      const gt = await METHODS[m]!(model, prep.tensor, { ...opts, classIndex: a.label_index });
      t.ms += performance.now() - t0; t.explanations++;
      const top1 = await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: prep.shape, data: prep.tensor } });
      const out = top1.outputs[model.outputs[0]!.name]!.data;
      let c = 0;
      for (let i = 1; i < out.length; i++) if (out[i]! > out[c]!) c = i;
      t0 = performance.now();
      const top = c === a.label_index ? gt : await METHODS[m]!(model, prep.tensor, { ...opts, classIndex: c });
      if (c !== a.label_index) { t.ms += performance.now() - t0; t.explanations++; }
      maps.push({ method: m, gt: gt.map, top: top.map, topClass: c });
      o.onProgress?.(++done, `${a.file} ${m}`);
    }
    for (const prior of ['center', 'random'] as const) {
      const pm = priorMap(prior, p.size, p.size, 7 + perImage.length);
      maps.push({ method: prior, gt: pm, top: pm });
    }
    const t0 = performance.now();
    const causal = await deletionInsertionBatch(model, maps.map((m) => ({ image: prep.tensor, map: m.top, classIndex: m.topClass })), { step, batchSize: batch });
    const di = await dropIncrease(model, maps.map((m) => ({ image: prep.tensor, map: m.top, classIndex: m.topClass })), { forms: ['top'], batchSize: batch });
    metricsMs += performance.now() - t0;
    maps.forEach((m, i) => {
      const orig = mapToOriginal(m.gt, prep.transform);
      const O = di.top!.O[i]!, Y = di.Y[i]!;
      perImage.push({
        file: a.file, method: m.method, small, classId: a.label_index, hit: pointingHit(orig, mask, { width: orig.width }),
        values: {
          EBPG: 100 * energyPointingGame(orig, mask), Bbox: 100 * bboxScore(orig, mask), mIoU: 100 * topFractionIoU(orig, mask),
          'Deletion AUC': causal[i]!.deletion!.auc, 'Insertion AUC': causal[i]!.insertion!.auc,
          'Drop %': (100 * Math.max(0, Y - O)) / Y, 'Increase %': O > Y ? 100 : 0,
        },
      });
    });
  }
  return { methods: allMethods, rows: perImage, methodTime, metricsMs };
}

/** Mean and 95% interval of every metric per method; the pointing game is the mean over classes of the per-class hit rate (spec 7.1). */
export function summariseEvaluation(rows: readonly EvalRow[], methods: readonly string[]): Record<string, MethodSummary> {
  return Object.fromEntries(methods.map((m) => {
    const mine = rows.filter((r) => r.method === m);
    const byClass = new Map<number, boolean[]>();
    for (const r of mine) byClass.set(r.classId, [...(byClass.get(r.classId) ?? []), r.hit]);
    const classRates = [...byClass.values()].map((h) => (100 * h.filter(Boolean).length) / h.length);
    const metrics = Object.fromEntries(METRICS.map((k) => [k, k === 'Pointing' ? summarise(classRates) : summarise(mine.map((r) => r.values[k]!))])) as Record<Metric, Summary>;
    return [m, { images: mine.length, metrics }];
  }));
}

export async function evaluate(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, images: { type: 'string' }, annotations: { type: 'string' }, methods: { type: 'string' },
    limit: { type: 'string' }, step: { type: 'string' }, batch: { type: 'string' }, mu: { type: 'string' }, ...PREPROCESS_ARGS,
    out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, strict: true });
  if (values.help) { console.log(evaluateHelp); return; }
  const int = (v: string | undefined, d: number, name: string) => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
    return n;
  };
  const step = int(values.step, 224 * 8, 'step'), batch = int(values.batch, 32, 'batch');
  const limit = values.limit === undefined ? Infinity : int(values.limit, 0, 'limit');
  const mu = values.mu === undefined ? 0 : Number(values.mu);
  if (!(mu >= 0 && mu <= 1)) throw new UsageError(`--mu must be in [0, 1], got '${values.mu}'`);
  const methods = (values.methods ?? 'sise,gradcam').split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of methods) if (!METHODS[m]) throw new UsageError(`unknown method '${m}' (available: ${Object.keys(METHODS).join(', ')})`);
  if (values.images === undefined && !FROM_SOURCE) throw new UsageError('--images DIR is required');
  const dir = values.images ?? join(SHARED, 'images', 'imagenet-val');
  const images = loadAnnotatedImages(dir, values.annotations, limit);
  const outDir = values.out ?? 'out/eval';
  const modelPath = resolveModelPath(values.model);
  const { model, gpu } = await openModel(modelPath);
  try {
    const { p } = preprocessingFromArgs(model, values);
    const bar = new ProgressBar(images.length * methods.length);
    const { methods: allMethods, rows: perImage } = await evaluateImages(model, images, p, { methods, step, batch, mu, onProgress: (done, label) => bar.update(done, label) });
    bar.finish();
    const table = (subset: typeof perImage) => {
      const stats = summariseEvaluation(subset, allMethods);
      return allMethods.map((m) => [m, String(stats[m]!.images), ...METRICS.map((k) => fmt(stats[m]!.metrics[k], k === 'Pointing' ? 1 : k.includes('AUC') ? 3 : 1))]);
    };
    const header = ['method', 'images', ...METRICS.map((k) => `${k} ${/Deletion|Drop/.test(k) ? '↓' : '↑'}`)];
    const smallSet = perImage.filter((r) => r.small);
    const md = [
      `# Evaluation: ${basename(modelPath)} on ${images.length} images of ${dir}`,
      '',
      `Adapter: ${gpu.adapterName}. Methods explain the labelled class for EBPG, Bbox, mIoU and the pointing game (maps on the original image's pixels, boxes as annotated) and the top-1 class for deletion/insertion (step ${step}, spec 7.6) and Drop/Increase (SISE's top-15% form, spec 7.5). Mean [95% interval]; the pointing game is the mean over classes of the per-class hit rate (15 px).`,
      '',
      markdownTable(header, table(perImage)),
      '',
      `Images whose boxes cover at most half of the 224 crop (${new Set(smallSet.map((r) => r.file)).size} images): box metrics are less dominated by chance here.`,
      '',
      markdownTable(header, table(smallSet)),
      '',
    ].join('\n');
    const csvText = csv(['file', 'method', 'small_boxes', ...METRICS.filter((k) => k !== 'Pointing'), 'pointing_hit'],
      perImage.map((r) => [r.file, r.method, r.small ? 1 : 0, ...METRICS.filter((k) => k !== 'Pointing').map((k) => r.values[k]!), r.hit ? 1 : 0]));
    mkdirSync(outDir, { recursive: true });
    for (const [name, text] of [['evaluation.md', md], ['evaluation.csv', csvText]] as const) {
      writeFileSync(join(outDir, `${name}.tmp`), text);
      renameSync(join(outDir, `${name}.tmp`), join(outDir, name));
    }
    console.log(md);
    console.log(`written: ${join(outDir, 'evaluation.md')}, ${join(outDir, 'evaluation.csv')}`);
  } finally {
    model.destroy();
    gpu.destroy();
  }
}
