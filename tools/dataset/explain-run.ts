/**
 * Explaining a dataset image by image on one loaded model: the work both the one-machine run
 * (`explain --images`) and a queue worker do. Each image's files are written as soon as its map
 * exists and a row per image and method is appended to the index, so a run stopped at any point
 * is resumed by running it again: rows with status 'ok' (whose summary file exists) are skipped.
 *
 * Images are decoded a group at a time (`--batch`, default 8, images; one when no method has a
 * batched path). A method with a batched path (the gradient CAMs) explains the group's readable
 * images in one `explain()` call, whose maps equal one-at-a-time explanations; the other methods
 * run one image after another on the same loaded model and plans. Each image's files and row are
 * written as soon as its result exists; an unreadable image fails alone.
 */
import { readImage, encodePng } from '../../src/image-io.js';
import { explain, explainImage, methodParameters, METHODS, type MethodOptions } from '../../src/xai/explain.js';
import type { GradientCamMethod } from '../../src/xai/cams.js';
import type { Explanation } from '../../src/xai/explanation.js';
import { checkMethodParameters } from '../method-params.js';
import { preprocessImage, PRESETS, type Preprocessing, type RgbaImage } from '../../src/xai/preprocess.js';
import { detectBlocks } from '../../src/xai/blocks.js';
import { DeviceError, InputError } from '../../src/runtime/errors.js';
import type { Model } from '../../src/runtime/model.js';
import type { GpuContext } from '../../src/runtime/device.js';
import { loadLabels, openModel, OutputError, preprocessingFromArgs, PREPROCESS_ARGS, toProbabilities, topK, UsageError } from '../cli-common.js';
import { encodeNpyFloat32, overlayWithColorbar } from '../../src/render.js';
import { summary } from '../commands/explain.js';
import type { DatasetItem } from './sources.js';
import type { ResultStore } from './store.js';
import { completedKeys, INDEX, type IndexRow, resultKeys } from './run-index.js';

/** Everything a worker needs to reproduce the command's explanations (plain JSON: it travels in queue jobs). */
export interface ExplainConfig {
  modelPath: string;
  methods: string[];
  classIndex?: number;
  batchSize?: number;
  mu?: number;
  seed?: number;
  layers?: string[];
  /** `--param key=value` pairs as typed. */
  params: string[];
  /** `--preset`, `--mean`, ... as typed. */
  preprocess: { -readonly [K in keyof typeof PREPROCESS_ARGS]?: string };
  labels?: string;
}

/** The explain options a dataset run accepts, as parseArgs gives them. */
export interface ExplainArgs {
  method?: string[]; class?: string; batch?: string; mu?: string; seed?: string; layers?: string; param?: string[]; labels?: string;
  preset?: string; mean?: string; std?: string; channels?: string; scale?: string; resize?: string; crop?: string;
}

/** Checks the explain options (same rules and messages as `explain`) and returns the config; UsageError otherwise. */
export function explainConfigFromArgs(v: ExplainArgs, modelPath: string): ExplainConfig {
  const methods = [...new Set((v.method ?? ['sise']).flatMap((m) => m.split(',')).map((m) => m.trim().toLowerCase()).filter(Boolean))];
  if (!methods.length) throw new UsageError('--method is empty');
  for (const m of methods) if (!(m in METHODS)) throw new UsageError(`unknown method '${m}' (available: ${Object.keys(METHODS).join(', ')})`);
  const num = (s: string | undefined) => (s === undefined ? undefined : s.trim() === '' ? NaN : Number(s));
  const classIndex = num(v.class), batchSize = num(v.batch), mu = num(v.mu), seed = num(v.seed);
  if (classIndex !== undefined && !(Number.isInteger(classIndex) && classIndex >= 0)) throw new UsageError(`--class must be a non-negative integer, got '${v.class}'`);
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`--batch must be a positive integer, got '${v.batch}'`);
  if (mu !== undefined && !(mu >= 0 && mu <= 1)) throw new UsageError(`--mu must be a number in [0, 1], got '${v.mu}'`);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new UsageError(`--seed must be an integer in [0, 2^32), got '${v.seed}'`);
  for (const m of methods) {
    try {
      const params = methodParameters(m, v.param ?? [], methods);
      checkMethodParameters(m, { ...(seed !== undefined ? { seed } : {}), ...(batchSize !== undefined ? { batchSize } : {}), ...params });
    } catch (e) { throw new UsageError(`--param (${m}): ${(e as Error).message}`); }
  }
  const layers = v.layers === undefined ? undefined : v.layers.split(',').map((l) => l.trim()).filter(Boolean);
  if (layers && !layers.length) throw new UsageError('--layers is empty');
  if (v.preset !== undefined && !(v.preset in PRESETS)) throw new UsageError(`unknown preset '${v.preset}' (known: ${Object.keys(PRESETS).join(', ')})`);
  const preprocess: ExplainConfig['preprocess'] = {};
  for (const k of Object.keys(PREPROCESS_ARGS) as (keyof typeof PREPROCESS_ARGS)[]) if (v[k] !== undefined) preprocess[k] = v[k];
  return { modelPath, methods, classIndex, batchSize, mu, seed, layers, params: v.param ?? [], preprocess, labels: v.labels };
}

/** A loaded model with the run's preprocessing and options, reused for every image. */
export interface ExplainContext {
  readonly config: ExplainConfig;
  readonly model: Model;
  readonly gpu: GpuContext;
  readonly p: Preprocessing;
  readonly presetName: string;
  readonly classes: number;
  readonly loadMs: number;
  nameOf(k: number): string;
  close(): void;
}

/** Loads the model and checks the config against it (input rank, layers, class range). */
export async function openExplainContext(config: ExplainConfig, gpu?: GpuContext): Promise<ExplainContext> {
  const { model, gpu: g, loadMs } = await openModel(config.modelPath, gpu);
  const close = () => { model.destroy(); if (!gpu) g.destroy(); };
  try {
    const inputShape = [...model.inputShapes(1).values()][0]!;
    if (inputShape.length !== 4) throw new InputError(`the model input is [${inputShape.join(', ')}]; explanations need an image input [1, C, H, W]`);
    const { name: presetName, p } = preprocessingFromArgs(model, config.preprocess);
    if (config.layers) detectBlocks(model, { layers: config.layers });
    // One pass on a grey image tells the class count (the output shape may be symbolic).
    const size = inputShape.reduce((a, b) => a * b, 1);
    const { outputs } = await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: inputShape, data: new Float32Array(size).fill(0.5) } });
    const classes = outputs[model.outputs[0]!.name]!.data.length;
    if (config.classIndex !== undefined && config.classIndex >= classes) throw new UsageError(`--class ${config.classIndex} is out of range: the model has ${classes} classes (0..${classes - 1})`);
    const labels = loadLabels(config.labels, classes);
    return { config, model, gpu: g, p, presetName, classes, loadMs, nameOf: (k) => labels?.[k] ?? `class ${k}`, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** Raised when the GPU device is lost: the run stops (a queue worker exits) rather than fail every later image. */
export class DeviceLostError extends DeviceError {}

/** What one call did: units are image × method. */
export interface ItemsOutcome { ok: number; failed: number; skipped: number; failures: { image: string; method: string; error: string }[] }

/** Identifies who wrote a row (a queue worker's id; the host and pid otherwise). */
export interface RunHooks {
  worker?: string;
  /** After each unit of work that was not skipped. */
  onUnit?: (row: IndexRow) => void;
  /** Keys (image + method) already complete; read from the index when not given. */
  complete?: Set<string>;
  /** Asked before each image as well, for an index other processes append to (IndexFollower). */
  isComplete?: (image: string, method: string) => boolean;
  /**
   * Whether a failed unit gets its 'failed' row now. A queue worker says no until its job's last
   * attempt, so an image retried by the queue has one row; the one-machine run always says yes.
   */
  recordFailures?: boolean;
}

/** Images decoded and explained together by a method with a batched path when `--batch` is not given. */
export const DEFAULT_GROUP = 8;

/** Whether `method` explains several images in batched GPU passes (the gradient CAMs of the explainer core). */
export function hasBatchedPath(method: string): boolean {
  return (METHODS[method] as Partial<GradientCamMethod<MethodOptions>> | undefined)?.batch !== undefined;
}

/** An image of the current group that decoded and classified, with the methods it still needs. */
interface Loaded { item: DatasetItem; todo: string[]; img: RgbaImage; top5: number[]; probs: Float32Array }

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Explains every image and method of `items` not yet complete in `store`, writing results and index rows as they come. */
export async function explainItems(ctx: ExplainContext, items: readonly DatasetItem[], store: ResultStore, hooks: RunHooks = {}): Promise<ItemsOutcome> {
  const { config, model, p } = ctx;
  const complete = hooks.complete ?? completedKeys(store);
  const record = hooks.recordFailures ?? true;
  const perMethod = new Map<string, Partial<MethodOptions>>(config.methods.map((m) => [m, methodParameters(m, config.params, config.methods)]));
  const baseOpts: MethodOptions = { classIndex: config.classIndex, batchSize: config.batchSize, mu: config.mu, layers: config.layers, layer: config.layers?.[config.layers.length - 1], seed: config.seed };
  const out: ItemsOutcome = { ok: 0, failed: 0, skipped: 0, failures: [] };
  const base = { worker: hooks.worker ?? null, model: config.modelPath };
  const emit = (row: IndexRow) => {
    if (row.status === 'ok') out.ok++;
    else {
      out.failed++;
      out.failures.push({ image: row.image, method: row.method, error: row.error ?? '' });
    }
    if (row.status === 'ok' || record) store.append(INDEX, [row]);
    hooks.onUnit?.(row);
  };
  const failRow = (item: DatasetItem, method: string, e: unknown): IndexRow => ({
    image: item.id, path: item.path, method, status: 'failed', class: null, score: null, passes: null, timingsMs: null, error: message(e), files: [], ...base, at: new Date().toISOString(),
  });
  const checkDevice = async (e: unknown) => {
    // The device's loss is reported asynchronously; an error can arrive first.
    if (!ctx.gpu.lost) await new Promise((r) => setTimeout(r, 50));
    if (ctx.gpu.lost) throw new DeviceLostError(`the GPU device was lost (${ctx.gpu.lost.message}) while explaining; this process stops so the work can go to a healthy device: ${message(e)}`);
  };

  const write = (l: Loaded, method: string, e: Explanation, wall: number): IndexRow => {
    const { item, img, top5, probs } = l;
    const keys = resultKeys(item.id, method);
    const json = summary(e, { method, wall, nameOf: ctx.nameOf, adapter: ctx.gpu.adapterName, modelPath: config.modelPath, imagePath: item.path, img, presetName: ctx.presetName, top5, probs });
    store.writeGroup([
      { key: keys.png, bytes: encodePng(overlayWithColorbar(img, e.original!)) },
      { key: keys.npy, bytes: encodeNpyFloat32(e.map.data, [e.map.height, e.map.width]) },
      { key: keys.json, bytes: JSON.stringify(json, null, 2) + '\n' },
    ]);
    return {
      image: item.id, path: item.path, method, status: 'ok', class: e.classIndex, score: e.score,
      passes: { forward: e.forwardPasses, backward: e.backwardPasses }, timingsMs: { ...e.timings, total: wall }, error: null,
      files: [keys.png, keys.npy, keys.json], ...base, at: new Date().toISOString(),
    };
  };
  // Writes one image's result (or its failure) and emits its row; a store that cannot be written
  // fails the run, not the image: later images would fail the same way.
  const settle = async (l: Loaded, method: string, result: () => Promise<{ e: Explanation; wall: number }>) => {
    let row: IndexRow;
    try {
      const { e, wall } = await result();
      row = write(l, method, e, wall);
    } catch (e) {
      if (e instanceof OutputError) throw e;
      await checkDevice(e);
      row = failRow(l.item, method, e);
    }
    emit(row);
  };

  // Images are decoded a group at a time (bounded memory): a method with a batched path explains the
  // group's readable images in one explain() call; the others go one image after another.
  const groupSize = config.methods.some(hasBatchedPath) ? (config.batchSize ?? DEFAULT_GROUP) : 1;
  for (let g = 0; g < items.length; g += groupSize) {
    const loaded: Loaded[] = [];
    for (const item of items.slice(g, g + groupSize)) {
      const done = (m: string) => (complete.has(`${item.id}\0${m}`) || (hooks.isComplete?.(item.id, m) ?? false)) && store.has(resultKeys(item.id, m).json);
      const todo = config.methods.filter((m) => !done(m));
      out.skipped += config.methods.length - todo.length;
      if (!todo.length) continue;
      try {
        const img = readImage(item.path);
        const prep = preprocessImage(img, p);
        const { outputs } = await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: prep.shape, data: prep.tensor } });
        const { probs } = toProbabilities(outputs[model.outputs[0]!.name]!.data as Float32Array);
        loaded.push({ item, todo, img, probs, top5: topK(probs, Math.min(5, ctx.classes)) });
      } catch (e) {
        // An unreadable image fails alone; the rest of its group is explained.
        await checkDevice(e);
        for (const m of todo) emit(failRow(item, m, e));
      }
    }
    for (const method of config.methods) {
      const those = loaded.filter((l) => l.todo.includes(method));
      if (!those.length) continue;
      const opts: MethodOptions = { ...baseOpts, ...perMethod.get(method) };
      if (those.length > 1 && hasBatchedPath(method)) {
        const t0 = performance.now();
        let es: Explanation[] | undefined;
        try {
          es = (await explain(model, those.map((l) => l.img), { ...opts, method, preprocessing: p })).map((list) => list[0]!);
        } catch (e) {
          // The group failed: each image is retried on its own below, so only the one at fault fails.
          await checkDevice(e);
        }
        if (es) {
          // Each image's total is its share of the group's wall time.
          const wall = (performance.now() - t0) / those.length;
          for (let i = 0; i < those.length; i++) await settle(those[i]!, method, async () => ({ e: es[i]!, wall }));
          continue;
        }
      }
      for (const l of those) {
        await settle(l, method, async () => {
          const t0 = performance.now();
          const e = await explainImage(model, l.img, p, method, opts);
          return { e, wall: performance.now() - t0 };
        });
      }
    }
  }
  return out;
}
