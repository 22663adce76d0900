/**
 * `evaluate`: every metric for every method over a folder of images with box annotations (the
 * format of ../shared/images/imagenet-val), next to a centre-prior map and a random map on the same
 * images (platform notes: box metrics have a high chance level on ImageNet), with the subset whose
 * boxes cover at most half of the crop reported separately.
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readImage } from '../../src/image-io.js';
import { openModel, preprocessingFromArgs, PREPROCESS_ARGS, PREPROCESS_HELP, resolveModelPath, SHARED, UsageError, MODEL_DEFAULT_HELP, FROM_SOURCE } from '../cli-common.js';
import { preprocessImage, type ImageTransform, type Preprocessing, type RgbaImage } from '../../src/xai/preprocess.js';
import { evaluationMaps, METHODS, type MethodOptions } from '../../src/xai/explain.js';
import type { Model } from '../../src/runtime/model.js';
import { mapToOriginal, type SaliencyMap } from '../../src/xai/explanation.js';
import { boxesToMask, pointingHit } from '../../src/xai/metrics/index.js';
import { EVALUATION_METRICS } from '../../src/xai/metrics/registry.js';
import { csv, fmt, markdownTable, summarise, type Summary } from '../eval-stats.js';
import { writeFilesAtomically } from '../dataset/atomic-write.js';
import { FolderStore } from '../dataset/store.js';
import { PartialFailure } from '../dataset/explain-command.js';
import { EVAL_ROWS, evaluateResumable, evaluationSettings } from '../dataset/evaluate-run.js';

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
  --sanity            also the model-randomisation sanity check (Adebayo et al.): mean Spearman ρ of
                      each method's map with the maps after re-initialising the top 1, 2, 3 weighted
                      layers (cascading); lower is better; costly (3 model copies per map)
${PREPROCESS_HELP}
  --out DIR           where evaluation.md and evaluation.csv go (default: out/eval); each image's
                      rows are kept in DIR/evaluation-rows.jsonl as it finishes, and running the
                      same command again evaluates only the images not done yet ('webgpu-xai
                      queue evaluate' spreads the same run over GPUs)
  -h, --help          this text`;

export interface Annotation { file: string; width: number; height: number; label_index: number; boxes: number[][] }

/** The table's metrics: the registry's (src/xai/metrics/registry.ts) with the pointing game after the ground-truth ones. */
export const METRICS = ['EBPG', 'Bbox', 'mIoU', 'Pointing', 'Deletion AUC', 'Insertion AUC', 'Drop %', 'Increase %'] as const;
export type Metric = (typeof METRICS)[number] | 'Randomisation ρ';

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
  /** Also run the optional metrics of the registry (the model-randomisation sanity check). */
  sanity?: boolean;
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

/** Reads annotations.json (default: DIR/annotations.json): the first `limit` images it lists. */
export function loadAnnotations(dir: string, annotations: string | undefined, limit = Infinity): Annotation[] {
  const annPath = annotations ?? join(dir, 'annotations.json');
  if (!existsSync(annPath)) throw new UsageError(`annotations not found: ${annPath}`);
  let anns: Annotation[];
  try {
    anns = (JSON.parse(readFileSync(annPath, 'utf8')) as { images: Annotation[] }).images.slice(0, limit);
  } catch (e) {
    throw new UsageError(`cannot read annotations ${annPath}: ${(e as Error).message}`);
  }
  if (!anns?.length) throw new UsageError(`${annPath} lists no images`);
  return anns;
}

/** Reads annotations.json (default: DIR/annotations.json) and the first `limit` images it lists. */
export function loadAnnotatedImages(dir: string, annotations: string | undefined, limit = Infinity): { a: Annotation; img: ReturnType<typeof readImage> }[] {
  return loadAnnotations(dir, annotations, limit).map((a) => ({ a, img: readImage(join(dir, a.file)) }));
}

/**
 * Every metric for every method (and the two prior maps) on every image: per-image rows.
 *
 * `index` is the image's place in the whole dataset (default: its place in `images`): it seeds the
 * random prior map, so a run resumed or split into chunks gives the same rows.
 */
export async function evaluateImages(model: Model, images: readonly { a: Annotation; img: RgbaImage; index?: number }[], p: Preprocessing, o: EvaluateOptions): Promise<EvaluationResult> {
  const { methods, step, batch, mu } = o;
  const allMethods = [...methods, 'center', 'random'];
  const perImage: EvalRow[] = [];
  const methodTime: EvaluationResult['methodTime'] = Object.fromEntries(methods.map((m) => [m, { ms: 0, explanations: 0 }]));
  let metricsMs = 0;
  let done = 0;
  for (const [k, { a, img, index }] of images.entries()) {
    const prep = preprocessImage(img, p);
    const small = cropCoverage(a, prep.transform) <= 0.5;
    const mask = boxesToMask(a.boxes.map(([xmin, ymin, xmax, ymax]) => ({ xmin: xmin!, ymin: ymin!, xmax: xmax!, ymax: ymax! })), a.width, a.height);
    const maps: { method: string; gt: SaliencyMap; top: SaliencyMap; topClass?: number }[] = [];
    for (const m of methods) {
      const opts = { batchSize: batch, mu, ...o.methodOptions?.[m] };
      const t = methodTime[m]!;
      // Ground-truth metrics explain the labelled class; model-truth metrics the top-1 class. The
      // same entry point as `explain` (segmentation image, masking baseline, batched CAM rows).
      const t0 = performance.now();
      const e = await evaluationMaps(model, img, p, m, a.label_index, opts);
      t.ms += performance.now() - t0; t.explanations += e.explanations;
      maps.push({ method: m, gt: e.label.map, top: e.top.map, topClass: e.topClass });
      o.onProgress?.(++done, `${a.file} ${m}`);
    }
    for (const prior of ['center', 'random'] as const) {
      const pm = priorMap(prior, p.size, p.size, 7 + (index ?? k) * allMethods.length);
      maps.push({ method: prior, gt: pm, top: pm });
    }
    const t0 = performance.now();
    // Every metric of the registry (src/xai/metrics/registry.ts), the optional ones when asked.
    const x = { model, image: img, preprocessing: p, tensor: prep.tensor, transform: prep.transform, boxes: mask, label: a.label_index,
      maps: maps.map((m) => ({ ...m, prior: m.method === 'center' || m.method === 'random' })), step, batch,
      methodOptions: (m: string) => ({ batchSize: batch, mu, ...o.methodOptions?.[m] }), shared: new Map<string, Promise<unknown>>() };
    const values: Partial<Record<Metric, number>>[] = maps.map(() => ({}));
    for (const metric of EVALUATION_METRICS) {
      if (metric.optional && !o.sanity) continue;
      (await metric.compute(x)).forEach((v, i) => { if (v !== undefined) values[i]![metric.name as Metric] = v; });
    }
    metricsMs += performance.now() - t0;
    maps.forEach((m, i) => {
      const orig = mapToOriginal(m.gt, prep.transform);
      perImage.push({ file: a.file, method: m.method, small, classId: a.label_index, hit: pointingHit(orig, mask, { width: orig.width }), values: values[i]! });
    });
  }
  return { methods: allMethods, rows: perImage, methodTime, metricsMs };
}

/** Mean and 95% interval of every metric per method; the pointing game is the mean over classes of the per-class hit rate (spec 7.1). */
export function summariseEvaluation(rows: readonly EvalRow[], methods: readonly string[], metrics: readonly Metric[] = METRICS): Record<string, MethodSummary> {
  return Object.fromEntries(methods.map((m) => {
    const mine = rows.filter((r) => r.method === m);
    const byClass = new Map<number, boolean[]>();
    for (const r of mine) byClass.set(r.classId, [...(byClass.get(r.classId) ?? []), r.hit]);
    const classRates = [...byClass.values()].map((h) => (100 * h.filter(Boolean).length) / h.length);
    const values = (k: Metric) => mine.map((r) => r.values[k]).filter((v): v is number => v !== undefined);
    const summary = Object.fromEntries(metrics.map((k) => [k, k === 'Pointing' ? summarise(classRates) : summarise(values(k))])) as Record<Metric, Summary>;
    return [m, { images: mine.length, metrics: summary }];
  }));
}

/** What the report says about the run besides the rows. */
export interface ReportMeta {
  model: string; images: number; dir: string; adapter: string; step: number; failed: readonly { file: string; error: string }[];
  /** The table's columns (default METRICS; evaluate --sanity adds the randomisation check). */
  metrics?: readonly Metric[];
}

/** The Markdown tables (all images, and the small-box subset) and the per-image CSV of an evaluation. */
export function evaluationReport(rows: readonly EvalRow[], allMethods: readonly string[], meta: ReportMeta): { md: string; csvText: string } {
  const columns = meta.metrics ?? METRICS;
  const table = (subset: readonly EvalRow[]) => {
    const stats = summariseEvaluation(subset, allMethods, columns);
    return allMethods.map((m) => [m, String(stats[m]!.images), ...columns.map((k) => fmt(stats[m]!.metrics[k], k === 'Pointing' ? 1 : k.includes('AUC') ? 3 : 1))]);
  };
  const header = ['method', 'images', ...columns.map((k) => `${k} ${/Deletion|Drop|Randomisation/.test(k) ? '↓' : '↑'}`)];
  const smallSet = rows.filter((r) => r.small);
  const md = [
    `# Evaluation: ${meta.model} on ${meta.images} images of ${meta.dir}`,
    '',
    `Adapter: ${meta.adapter}. Methods explain the labelled class for EBPG, Bbox, mIoU and the pointing game (maps on the original image's pixels, boxes as annotated) and the top-1 class for deletion/insertion (step ${meta.step}, spec 7.6) and Drop/Increase (SISE's top-15% form, spec 7.5). Mean [95% interval]; the pointing game is the mean over classes of the per-class hit rate (15 px).`,
    '',
    markdownTable(header, table(rows)),
    '',
    `Images whose boxes cover at most half of the 224 crop (${new Set(smallSet.map((r) => r.file)).size} images): box metrics are less dominated by chance here.`,
    '',
    markdownTable(header, table(smallSet)),
    '',
    ...(meta.failed.length ? [`Failed (not in the tables): ${meta.failed.map((f) => `${f.file} (${f.error})`).join('; ')}`, ''] : []),
  ].join('\n');
  const csvText = csv(['file', 'method', 'small_boxes', ...columns.filter((k) => k !== 'Pointing'), 'pointing_hit'],
    rows.map((r) => [r.file, r.method, r.small ? 1 : 0, ...columns.filter((k) => k !== 'Pointing').map((k) => r.values[k] ?? ''), r.hit ? 1 : 0]));
  return { md, csvText };
}

/** Checks evaluate's options (shared with `queue evaluate`); UsageError otherwise. */
export function evaluateArguments(values: { step?: string; batch?: string; limit?: string; mu?: string; methods?: string; images?: string }):
  { step: number; batch: number; limit: number; mu: number; methods: string[]; dir: string } {
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
  return { step, batch, limit, mu, methods, dir };
}

/** The preprocessing options as typed (the run's settings record them). */
export function preprocessArgs(v: { [K in keyof typeof PREPROCESS_ARGS]?: string }): Record<string, string | undefined> {
  return Object.fromEntries(Object.keys(PREPROCESS_ARGS).map((k) => [k, v[k as keyof typeof PREPROCESS_ARGS]]));
}

export async function evaluate(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, images: { type: 'string' }, annotations: { type: 'string' }, methods: { type: 'string' },
    limit: { type: 'string' }, step: { type: 'string' }, batch: { type: 'string' }, mu: { type: 'string' }, sanity: { type: 'boolean' }, ...PREPROCESS_ARGS,
    out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, strict: true });
  if (values.help) { console.log(evaluateHelp); return; }
  const { step, batch, limit, mu, methods, dir } = evaluateArguments(values);
  const sanity = values.sanity === true;
  const anns = loadAnnotations(dir, values.annotations, limit);
  const outDir = values.out ?? 'out/eval';
  const modelPath = resolveModelPath(values.model);
  const { model, gpu } = await openModel(modelPath);
  try {
    const { p } = preprocessingFromArgs(model, values);
    // The sanity check joins the run's settings only when asked, so earlier runs still resume.
    const settings = { ...evaluationSettings(basename(modelPath), dir, preprocessArgs(values), { methods, step, batch, mu }), ...(sanity ? { sanity } : {}) };
    const { methods: allMethods, rows: perImage, failed } = await evaluateResumable(model, settings, dir, anns, p, { methods, step, batch, mu, sanity }, new FolderStore(outDir), gpu.adapterName);
    const metrics: readonly Metric[] = sanity ? [...METRICS, 'Randomisation ρ'] : METRICS;
    const { md, csvText } = evaluationReport(perImage, allMethods, { model: basename(modelPath), images: anns.length, dir: resolve(dir), adapter: gpu.adapterName, step, failed, metrics });
    writeFilesAtomically([{ path: join(outDir, 'evaluation.md'), bytes: md }, { path: join(outDir, 'evaluation.csv'), bytes: csvText }]);
    console.log(md);
    console.log(`written: ${join(outDir, 'evaluation.md')}, ${join(outDir, 'evaluation.csv')}`);
    if (failed.length) throw new PartialFailure(`${failed.length} of ${anns.length} images failed (rows with status "failed" in ${join(outDir, EVAL_ROWS)}); run the same command again to retry them`);
  } finally {
    model.destroy();
    gpu.destroy();
  }
}
