/** Shared pieces of the command-line tool: defaults, argument errors, model and label loading. */
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNodeGpu, externalFilesIn } from '../src/node.js';
import { Model, type LoadOptions } from '../src/runtime/model.js';
import type { GpuContext } from '../src/runtime/device.js';
import { XaiError } from '../src/runtime/errors.js';
import { PRESETS, guessPreset, presetForInput, resolvePreprocessing, type PresetName, type Preprocessing } from '../src/xai/preprocess.js';
import { parseLabels } from './scores.js';

export { toProbabilities, topK } from './scores.js';

/** True when running from the TypeScript sources (tsx, the repository); false in the compiled package. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** The package root: the repository when run from tools/, the installed package when run from dist/tools/. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), FROM_SOURCE ? '..' : '../..');
/** Test data beside the repository; only the repository's own runs (FROM_SOURCE) look there. */
export const SHARED = resolve(REPO_ROOT, '..', 'shared');
/** The model the package carries (assets/README.md): SqueezeNet 1.1, fp16 weights, caffe preprocessing. */
export const DEFAULT_MODEL = join(REPO_ROOT, 'assets', 'squeezenet1.1-fp16.onnx');
/** ImageNet-1k class names in output order, used for any model with 1000 outputs unless --labels says otherwise. */
export const DEFAULT_LABELS = join(REPO_ROOT, 'assets', 'imagenet-classes.txt');
/** The repository's demo photo; the installed package has no default image. */
export const DEFAULT_IMAGE = FROM_SOURCE ? join(SHARED, 'images', 'misc', 'catdog.rise.png') : undefined;
/** How help texts describe the defaults. */
export const MODEL_DEFAULT_HELP = 'the built-in SqueezeNet 1.1, ImageNet classes';
export const IMAGE_DEFAULT_HELP = DEFAULT_IMAGE ? `default: ${DEFAULT_IMAGE}` : 'required';

/** A problem with what the user typed: printed without a stack trace, exit code 2. */
export class UsageError extends Error { override name = 'UsageError'; }

/** Output that could not be written (permissions, full disk): printed without a stack trace, exit code 1. */
export class OutputError extends Error { override name = 'OutputError'; }

export function resolveModelPath(arg: string | undefined): string {
  if (arg) {
    if (!existsSync(arg)) throw new UsageError(`model file not found: ${arg}`);
    if (!statSync(arg).isFile()) throw new UsageError(`--model ${arg} is a folder, not an ONNX file`);
    return arg;
  }
  if (existsSync(DEFAULT_MODEL)) return DEFAULT_MODEL;
  throw new UsageError(`no --model given and the built-in model ${DEFAULT_MODEL} is missing (a damaged install?): pass --model PATH`);
}

export function resolveImagePath(arg: string | undefined): string {
  if (arg === undefined && (DEFAULT_IMAGE === undefined || !existsSync(DEFAULT_IMAGE))) throw new UsageError('no --image given: pass --image PATH (a JPEG or PNG file)');
  const p = arg ?? DEFAULT_IMAGE!;
  if (!existsSync(p)) throw new UsageError(`image not found: ${p}`);
  if (!statSync(p).isFile()) throw new UsageError(`--image ${p} is a folder, not an image file`);
  return p;
}

/**
 * Checks, before any model work, that the output folder `dir` exists or can be created and can be
 * written, by creating and removing an empty probe folder in it (or in its nearest existing
 * ancestor). Bounded: one walk up the path, one mkdir, one rmdir. Leaves nothing behind.
 */
export function checkOutputDir(dir: string, flag = '--out'): void {
  let existing = resolve(dir);
  while (!existsSync(existing)) {
    const up = dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  if (!statSync(existing).isDirectory()) throw new UsageError(`${flag} ${dir}: ${existing} is a file, not a folder`);
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
    rmdirSync(mkdtempSync(join(existing, '.webgpu-xai-probe-')));
  } catch (e) {
    throw new UsageError(`${flag} ${dir} cannot be ${existing === resolve(dir) ? 'written' : 'created'} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message} in ${existing})`);
  }
}

export function loadLabels(path: string | undefined, classes: number): string[] | undefined {
  const p = path ?? (classes === 1000 && existsSync(DEFAULT_LABELS) ? DEFAULT_LABELS : undefined);
  if (!p) return undefined;
  if (!existsSync(p)) throw new UsageError(`label file not found: ${p}`);
  return parseLabels(readFileSync(p, 'utf8'));
}

export function preprocessingFor(model: Model, preset: string | undefined, size?: number): { name: PresetName; p: Preprocessing } {
  const input = model.inputs[0]!;
  const name = (preset ?? guessPreset(input.name, input.shape)) as PresetName;
  if (!(name in PRESETS)) throw new UsageError(`unknown preset '${preset}' (known: ${Object.keys(PRESETS).join(', ')})`);
  return { name, p: presetForInput(input, name, size) };
}

export async function openModel(path: string, gpu?: GpuContext, opts: { warmup?: boolean; tune?: LoadOptions['tune'] } = {}): Promise<{ model: Model; gpu: GpuContext; loadMs: number }> {
  const g = gpu ?? (await createNodeGpu());
  const t0 = performance.now();
  // Loading can take seconds (kernel tuning on a new adapter, compiling every pipeline): say so on a terminal.
  const status = (text: string) => { if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`); };
  const name = basename(path);
  status(`loading ${name}...`);
  const tune: LoadOptions['tune'] = opts.tune === false ? false : {
    ...(typeof opts.tune === 'object' ? opts.tune : {}),
    onProgress: (p) => status(`loading ${name}: tuning kernels ${p.done}/${p.total} (${p.op})`),
  };
  try {
    const model = await Model.load(new Uint8Array(readFileSync(path)), { gpu: g, warmup: opts.warmup, externalData: externalFilesIn(dirname(path)), tune });
    return { model, gpu: g, loadMs: performance.now() - t0 };
  } catch (e) {
    // A model that fails to load must not keep the process alive through an open device.
    if (!gpu) g.destroy();
    throw e;
  } finally {
    status('');
  }
}

/** Runs a command body, turning known errors into a message and an exit code. */
export async function runCommand(body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof OutputError || e instanceof XaiError || (e as Error).name === 'ImageDecodeError') {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      return e instanceof UsageError ? 2 : 1;
    }
    throw e;
  }
}

/** parseArgs options shared by every command that reads images: a preset plus overrides. */
export const PREPROCESS_ARGS = {
  preset: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' }, channels: { type: 'string' },
  scale: { type: 'string' }, resize: { type: 'string' }, crop: { type: 'string' },
} as const;

export const PREPROCESS_HELP = `  --preset NAME    preprocessing preset: ${Object.keys(PRESETS).join(' | ')} (default: guessed from the model)
  --mean a,b,c     per-channel mean (after --scale), overriding the preset
  --std a,b,c      per-channel standard deviation
  --channels ORDER rgb | bgr | gray
  --scale D        divide pixel values (0..255) by D first (255 for 0..1 models, 1 for 0..255)
  --resize N       shorter side after resizing, before the centre crop
  --crop N         side of the square centre crop (must match the model input)`;

/** The preset (given or guessed) with any --mean/--std/--channels/--scale/--resize/--crop applied. */
export function preprocessingFromArgs(model: Model, v: { [K in keyof typeof PREPROCESS_ARGS]?: string }): { name: string; p: Preprocessing } {
  const { name, p } = preprocessingFor(model, v.preset);
  const list = (s: string, what: string, n: number) => {
    const xs = s.split(',').map(Number);
    if (xs.length !== n || xs.some((x) => !Number.isFinite(x))) throw new UsageError(`--${what} needs ${n} comma-separated numbers, got '${s}'`);
    return xs;
  };
  const pos = (s: string, what: string) => {
    const x = Number(s);
    if (!(x > 0)) throw new UsageError(`--${what} must be a positive number, got '${s}'`);
    return x;
  };
  const out: Preprocessing = { ...p };
  if (v.channels !== undefined) {
    if (!['rgb', 'bgr', 'gray'].includes(v.channels)) throw new UsageError(`--channels must be rgb, bgr or gray, got '${v.channels}'`);
    out.channels = v.channels as Preprocessing['channels'];
  }
  const n = out.channels === 'gray' ? 1 : 3;
  if (v.mean !== undefined) out.mean = list(v.mean, 'mean', n);
  if (v.std !== undefined) out.std = list(v.std, 'std', n);
  if (out.mean.length !== n || out.std.length !== n) throw new UsageError(`--channels ${out.channels} needs --mean and --std with ${n} values`);
  if (v.scale !== undefined) out.divisor = pos(v.scale, 'scale');
  if (v.crop !== undefined) out.size = Math.round(pos(v.crop, 'crop'));
  if (v.resize !== undefined) out.resize = Math.round(pos(v.resize, 'resize'));
  if (out.resize < out.size) throw new UsageError(`--resize (${out.resize}) must be at least the crop (${out.size})`);
  const want = model.inputs[0]!.shape;
  if (typeof want[1] === 'number' && want[1] !== n) throw new UsageError(`the model wants ${want[1]} input channels; preprocessing gives ${n} (--channels ${out.channels})`);
  if (typeof want[2] === 'number' && want[2] !== out.size) throw new UsageError(`the model wants ${want[2]}x${want[3]} inputs; --crop is ${out.size}`);
  const custom = ['mean', 'std', 'channels', 'scale', 'resize', 'crop'].some((k) => v[k as keyof typeof v] !== undefined);
  // Warned here once, in the CLI's words; the library then knows and stays quiet for this model.
  resolvePreprocessing(model, out, (why) => process.stderr.write(`warning: ${why.replace('pass PRESETS.', 'pass --preset ').replace(' or no preprocessing to use it', ' or no --preset')}\n`));
  return { name: custom ? `${name} (customised)` : name, p: out };
}
