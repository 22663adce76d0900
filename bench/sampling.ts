/**
 * Benchmark of the sampling and search methods (issue 4): time per explanation and masked forward
 * passes per second of RISE, IASSA, mask optimisation, E-LIME and LIME on SqueezeNet 1.1 and
 * ShuffleNet-v2 (the real fp32 models in ../shared/models) on a real photo; the E-LIME / LIME time
 * ratio next to the paper's "more than 10x faster" and both forward-pass counts; and RISE next to
 * the same RISE driven through onnxruntime-web's WebGPU EP on the same adapter in the same run (the
 * same masks, made by a JavaScript port of our generator; masking and score-weighted accumulation
 * in JavaScript; maps compared by max |difference| and Spearman). webgpu-xai and onnxruntime-web
 * each run in their own child process (bench/sampling-child.ts). Results go to bench/RESULTS.md as
 * this adapter's `bench-sampling` section (every other section untouched).
 *
 *   npm run bench:sampling -- [--quick] [--models squeezenet,shufflenet] [--methods rise,iassa,mask-opt,e-lime,lime]
 *                             [--batch 32] [--reps 3] [--no-peer] [--peer-reps N] [--cell-seconds 60]
 *                             [--image PATH] [--results PATH] [--json PATH] [--models-dir DIR] [--child-timeout S]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { findModelsDir, loadBenchModel } from './models.js';
import type { ModelSpec } from './types.js';
import type { SamplingSettings } from './sampling-child.js';
import { riseParams } from '../src/xai/rise.js';
import { iassaParams } from '../src/xai/iassa.js';
import { maskOptimisationParams } from '../src/xai/mask-optimisation.js';
import { limeParams } from '../src/xai/lime.js';
import { elimeParams } from '../src/xai/elime.js';
import { spliceSection } from './results-file.js';
import { runBenchChild } from './child-process.js';

export const SAMPLING_METHODS = ['rise', 'iassa', 'mask-opt', 'e-lime', 'lime'] as const;
export type SamplingMethod = (typeof SAMPLING_METHODS)[number];
const SAMPLING_MODELS = ['squeezenet', 'shufflenet'] as const;
type SamplingModel = (typeof SAMPLING_MODELS)[number];
const DEFAULT_IMAGE = 'ILSVRC2012_val_00000003.JPEG';
const METHOD_NAMES: Record<SamplingMethod, string> = { rise: 'RISE', iassa: 'IASSA', 'mask-opt': 'Mask optimisation', 'e-lime': 'E-LIME', lime: 'LIME' };

type Opts = Partial<Record<SamplingMethod, Record<string, unknown>>>;

/** --quick: sized for a 2-core software adapter (~20-30 min with the peer). */
const QUICK: Opts = {
  rise: { masks: 256 },
  iassa: { attentionResolution: 'fast', iterations: 2, stride: 16 },
  'mask-opt': { pairs: 8, iterations: 10 },
  lime: { samples: 128 },
  'e-lime': { populationSize: 16, maxGenerations: 8 },
};
/** --smoke (checks the script itself; the numbers mean nothing). */
const SMOKE: Opts = {
  rise: { masks: 16 },
  iassa: { attentionResolution: 'fast', iterations: 2, stride: 56 },
  'mask-opt': { pairs: 4, iterations: 2 },
  lime: { samples: 16 },
  'e-lime': { populationSize: 8, maxGenerations: 1 },
};
const QUICK_TEXT = 'SqueezeNet only; RISE 256 masks (peer: the same 256); IASSA 2 rounds, attention grid 56 (\'fast\'), stride 16 (256 windows in round 1); mask optimisation 8 pairs × 10 iterations; LIME 128 samples; E-LIME population 16 × up to 8 generations; batch 8; 1 timed run per cell';

const HELP = `usage: bench-sampling [--quick] [options]
  --quick            sized for a 2-core software adapter (~20-30 min): ${QUICK_TEXT}
  --models LIST      ${SAMPLING_MODELS.join(',')} (default: both; quick: squeezenet)
  --methods LIST     ${SAMPLING_METHODS.join(',')} (default: all)
  --batch N          masked forward passes per batch, ours and ort-web alike (default 32, quick 8)
  --reps N           timed explanations per cell after a reduced warm-up run (default 3, quick 1)
  --cell-seconds S   stop repeating a cell after S s (at least one timed run; default 60, quick 45)
  --no-peer          skip the onnxruntime-web RISE peer
  --peer-reps N      timed peer RISE explanations (default --reps; quick 1)
  --image PATH       photo to explain (default ../shared/images/imagenet-val/${DEFAULT_IMAGE})
  --child-timeout S  seconds before a child process is killed (default 3600)
  --json PATH        raw records as JSON
  --results PATH     Markdown results file (default bench/RESULTS.md, or RESULTS.md next to a bundle)
  --models-dir DIR   the shared models (default ../shared/models)
  --smoke            tiny settings to check the script itself (implies --quick's models, batch and reps; numbers meaningless)
Without --quick every method runs with its defaults (the paper-like ones: RISE N=4000; IASSA 5 rounds,
full attention grid; mask optimisation Q=16 T=200; LIME 1000 samples; E-LIME 40 x up to 40 generations).`;

interface Options {
  quick: boolean; smoke: boolean; models: SamplingModel[]; methods: SamplingMethod[]; batch: number; reps: number; peerReps: number; cellSeconds: number;
  peer: boolean; image: string; results: string; json?: string; modelsDir: string; childTimeout: number; opts: Opts;
}

function parse(argv: string[]): Options {
  const get = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const has = (k: string) => argv.includes(k);
  if (has('--help') || has('-h')) { console.log(HELP); process.exit(0); }
  const smoke = has('--smoke');
  const quick = has('--quick') || smoke;
  const list = <T extends string>(k: string, all: readonly T[], dflt: readonly T[]): T[] => {
    const v = get(k);
    if (!v) return [...dflt];
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const x of xs) if (!all.includes(x as T)) throw new Error(`${k}: unknown '${x}' (choose from ${all.join(', ')})`);
    return xs as T[];
  };
  const num = (k: string, d: number, min = 0, int = false) => {
    const v = get(k); const n = v === undefined ? d : Number(v);
    if (!(n >= min) || (int && !Number.isInteger(n))) throw new Error(`${k} must be ${int ? 'an integer' : 'a number'} >= ${min}`);
    return n;
  };
  const modelsDir = findModelsDir(get('--models-dir'));
  const scriptDir = dirname(process.argv[1] ?? '.');
  const results = get('--results') ?? (existsSync(resolve('bench/sampling.ts')) || existsSync(resolve('bench/RESULTS.md')) ? resolve('bench/RESULTS.md') : join(scriptDir, 'RESULTS.md'));
  const reps = num('--reps', quick ? 1 : 3, 1, true);
  const methods = list('--methods', SAMPLING_METHODS, SAMPLING_METHODS);
  // Table order, whatever order was asked for.
  methods.sort((a, b) => SAMPLING_METHODS.indexOf(a) - SAMPLING_METHODS.indexOf(b));
  return {
    quick, smoke, results, json: get('--json'), modelsDir,
    models: list('--models', SAMPLING_MODELS, quick ? ['squeezenet'] : SAMPLING_MODELS),
    methods: [...new Set(methods)],
    batch: num('--batch', quick ? 8 : 32, 1, true), reps,
    peerReps: num('--peer-reps', quick ? 1 : reps, 1, true),
    cellSeconds: num('--cell-seconds', quick ? 45 : 60, 1),
    peer: !has('--no-peer'),
    image: resolve(get('--image') ?? join(modelsDir, '../images/imagenet-val', DEFAULT_IMAGE)),
    childTimeout: num('--child-timeout', 3600, 1),
    opts: smoke ? SMOKE : quick ? QUICK : {},
  };
}

/** The reduced warm-up run of each method: same batch (so the same plans and kernels), few passes. */
function warmOpts(o: Options): Opts {
  const n = (m: SamplingMethod, k: string, d: number) => (o.opts[m]?.[k] as number | undefined) ?? d;
  return {
    rise: { masks: Math.min(o.batch, n('rise', 'masks', 4000)) },
    iassa: { iterations: 1, stride: 112 },
    'mask-opt': { iterations: 1 },
    lime: { samples: Math.max(2, Math.min(o.batch, n('lime', 'samples', 1000))) },
    'e-lime': { maxGenerations: Math.min(1, n('e-lime', 'maxGenerations', 40)) },
  };
}


// ---------------------------------------------------------------------------------------------
// Settings that differ from each method's defaults, from the methods' own resolvers.

type Resolved = Record<string, unknown>;
const RESOLVERS: Record<SamplingMethod, (o: Record<string, unknown>) => Resolved> = {
  rise: (o) => ({ ...riseParams(o) }),
  iassa: (o) => ({ ...iassaParams(o, 224, 224) }),
  'mask-opt': (o) => ({ ...maskOptimisationParams(o) }),
  lime: (o) => ({ ...limeParams(o) }),
  'e-lime': (o) => ({ ...elimeParams(o) }),
};

const showValue = (v: unknown): string => {
  if (Array.isArray(v) && v.every((x) => x && typeof x === 'object' && 'window' in x && 'stride' in x)) {
    return (v as { window: number; stride: number }[]).map((g) => `${g.window}/${g.stride}`).join(' → ');
  }
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
};

/** [name, value, default] of every resolved parameter that differs from the default. */
export function settingDiffs(method: SamplingMethod, opts: Record<string, unknown>, batch: number): [string, string, string][] {
  const r = RESOLVERS[method];
  const got = r({ ...opts, batchSize: batch }), dflt = r({});
  const out: [string, string, string][] = [];
  for (const k of Object.keys(got)) {
    if (JSON.stringify(got[k]) !== JSON.stringify(dflt[k])) out.push([k === 'schedule' ? 'windows/strides per round' : k, showValue(got[k]), showValue(dflt[k])]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const fmt = (x: number) => (!Number.isFinite(x) ? '?' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(2));
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '');
const esc = (s: string) => String(s).replace(/\|/g, '/').replace(/\s+/g, ' ');

function settingsCell(method: SamplingMethod, c: Rec): string {
  const x = c.extras ?? {};
  switch (method) {
    case 'rise': return `N ${x.masks}`;
    case 'iassa': {
      const rounds = (x.rounds ?? []) as { window: number; stride: number; candidates: number; kept: number }[];
      return `${rounds.length} round(s), attention ${x.attentionResolution}², windows ${rounds.map((r) => `${r.window}/${r.stride}`).join(' → ')}, kept ${rounds.map((r) => `${r.kept}/${r.candidates}`).join(' + ')}`;
    }
    case 'mask-opt': return `Q ${x.pairs} × T ${x.iterations}, objective ${fmt(x.objectiveFirst)} → ${fmt(x.objectiveLast)}`;
    case 'lime': return `N ${x.samples}, ${x.segmentCount} superpixels, R² ${fmt(x.r2)}`;
    case 'e-lime': return `P ${x.populationSize}, ${x.generations} generation(s)${x.stoppedEarly ? ' (stopped early)' : ''}, ${x.segmentCount} superpixels, ${x.cacheHits} cache hits`;
  }
}

export function buildSamplingSection(o: { adapter: string; date: string; command: string; opts: Options; models: ModelSpec[]; records: Rec[]; failures: Record<string, string>; load: [number, number] }): string {
  const { opts, records: R } = o;
  const find = (pred: (r: Rec) => boolean) => R.find(pred);
  const L: string[] = [];
  L.push(`## ${o.adapter}: RISE, IASSA, mask optimisation, E-LIME, LIME`, '');
  if (opts.smoke) L.push('**--smoke: tiny settings that check the script itself; the numbers below mean nothing.**', '');
  else if (opts.quick) L.push(`**--quick: reduced settings, not the methods' defaults** (sized for a 2-core software adapter): ${QUICK_TEXT}. Every setting that differs from a default is listed below.`, '');
  L.push(`${o.date} · Node ${process.version} · \`${o.command}\` · batch ${opts.batch} · ${opts.reps} timed explanation(s) per cell after a reduced warm-up run, ${opts.cellSeconds} s budget per cell · image \`${basename(opts.image)}\` · load average ${o.load[0].toFixed(1)} at start, ${o.load[1].toFixed(1)} at end (${cpus().length} CPUs)`, '');
  for (const [p, why] of Object.entries(o.failures)) L.push(`**${p} child failed: ${esc(why)}** (what it measured before is kept).`, '');

  L.push('webgpu-xai, time per explanation (whole call: classify, segmentation, masked passes, attention, fitting, read-back; median):', '');
  L.push('| model | method | what ran | forward passes | masked passes | s / explanation | masked passes/s | forward-only img/s at batch | outside forward passes | phases, s |');
  L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---|');
  const ratios: string[] = [];
  for (const m of o.models) {
    const fw = find((r) => r.type === 'forward' && r.peer === 'ours' && r.model === m.name);
    for (const method of opts.methods) {
      const c = find((r) => r.type === 'cell' && r.model === m.name && r.method === method);
      const name = METHOD_NAMES[method];
      if (!c) { const f = find((r) => r.type === 'failed' && r.peer === 'ours' && r.model === m.name && !r.what); L.push(`| ${m.label} | ${name} | | | | ${f ? `failed: ${esc(f.reason)}` : 'not run'} | | | | |`); continue; }
      if (c.status !== 'ok') { L.push(`| ${m.label} | ${name} | | | | failed: ${esc(c.reason)} | | | | |`); continue; }
      const t = c.medianMs as number;
      const rate = c.masked > 0 && c.passMs > 0 ? (1000 * c.masked) / c.passMs : NaN;
      const outside = c.masked > 0 && fw ? 1 - (c.masked * fw.perImageMs) / t : NaN;
      const runs = c.times.length < opts.reps ? ` (${c.times.length} run${c.times.length > 1 ? 's' : ''})` : '';
      const phases = Object.entries(c.timings as Record<string, number>).map(([k, v]) => `${k} ${fmt(v / 1000)}`).join(', ');
      L.push(`| ${m.label} | ${name} | ${esc(settingsCell(method, c))} | ${c.forwardPasses} | ${c.masked} | ${fmt(t / 1000)}${runs} | ${fmt(rate)} | ${fw ? fmt((1000 * opts.batch) / fw.batchMs) : ''} | ${pct(outside)} | ${phases} |`);
    }
    const e = find((r) => r.type === 'cell' && r.model === m.name && r.method === 'e-lime' && r.status === 'ok');
    const l = find((r) => r.type === 'cell' && r.model === m.name && r.method === 'lime' && r.status === 'ok');
    if (e && l) {
      ratios.push(`${m.label}: E-LIME / LIME time **${fmt(e.medianMs / l.medianMs)}** (${fmt(e.medianMs / 1000)} s / ${fmt(l.medianMs / 1000)} s: E-LIME ${fmt(l.medianMs / e.medianMs)}× as fast as LIME), forward passes ${e.forwardPasses} / ${l.forwardPasses}${e.extras?.stoppedEarly ? ' (E-LIME stopped early)' : ''}, segmentation (quickshift, host) ${fmt((e.timings.segmentation ?? 0) / 1000)} s / ${fmt((l.timings.segmentation ?? 0) / 1000)} s`);
    }
  }
  L.push('');
  if (ratios.length) {
    const dflt = !opts.quick && !opts.opts['lime'] && !opts.opts['e-lime'];
    L.push(`**E-LIME / LIME** (the paper: E-LIME "more than ten times faster than LIME", i.e. a time ratio below 0.1, explanations within one minute): ${ratios.join('; ')}.${dflt ? '' : ' These are the reduced settings above, not the defaults.'} At the defaults E-LIME may evaluate up to 40 × (40 + 1) = 1640 individuals (fewer after fitness-cache hits and the early stop) plus one pass per selected superpixel for the removal-drop map, LIME runs 1000 samples: by forward passes this reconstruction of E-LIME is only cheaper than LIME when the early stop and the cache cut its evaluations below LIME's samples.`, '');
  }

  if (opts.peer && opts.methods.includes('rise')) {
    const dev = find((r) => r.type === 'device' && r.peer === 'ort-web');
    L.push(`Same RISE with the forward passes on ${dev ? esc(dev.label) : 'onnxruntime-web WebGPU EP'}${dev?.initMs !== undefined ? ` (one-time initialisation ${fmt(dev.initMs / 1000)} s, not counted)` : ''} at batch ${opts.batch}: the same masks (a JavaScript port of our hashed generator, float64 arithmetic), masking, softmax score reading and score-weighted accumulation in JavaScript, our explained class. Compared with webgpu-xai's RISE call:`, '');
    L.push('| model | masks | webgpu-xai, s / explanation | … masked passes + read-back, s | ort-web + JS, s / explanation | of which ort-web forward, s | JS masks, s | JS masking, s | JS accumulation, s | forward-only img/s at batch, ours / ort-web | speed-up (peer / ours masked passes + read-back) | max \\|Δ\\| of the [0, 1] maps | Spearman |');
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const m of o.models) {
      const p = find((r) => r.type === 'peer-rise' && r.model === m.name);
      const fwO = find((r) => r.type === 'forward' && r.peer === 'ours' && r.model === m.name);
      const fwP = find((r) => r.type === 'forward' && r.peer === 'ort-web' && r.model === m.name);
      const c = find((r) => r.type === 'cell' && r.model === m.name && r.method === 'rise' && r.status === 'ok');
      const blank = ' | | | | | | | | | |';
      if (!p) { L.push(`| ${m.label} | | | | ${o.failures['ort-web'] ? `failed: ${esc(o.failures['ort-web'])}` : 'not run'}${blank}`); continue; }
      if (p.status !== 'ok') { L.push(`| ${m.label} | | | | failed: ${esc(p.reason)}${blank}`); continue; }
      const oursPart = c ? (c.timings['masked passes'] ?? 0) + (c.timings['read-back'] ?? 0) : NaN;
      const runs = p.times.length > 1 ? ` (median of ${p.times.length})` : ' (1 run)';
      const img = (f: Rec | undefined) => (f ? fmt((1000 * opts.batch) / f.batchMs) : '?');
      const top = p.top1 !== undefined && p.top1 !== p.classIndex ? ` (ort-web's top-1 is ${p.top1}, ours ${p.classIndex})` : '';
      L.push(`| ${m.label} | ${p.masks} | ${c ? fmt(c.medianMs / 1000) : '?'} | ${fmt(oursPart / 1000)} | ${fmt(p.medianMs / 1000)}${runs} | ${fmt(p.forwardMs / 1000)} | ${fmt(p.maskMs / 1000)} | ${fmt(p.maskingMs / 1000)} | ${fmt(p.accumulateMs / 1000)} | ${img(fwO)} / ${img(fwP)} | ${fmt(p.medianMs / oursPart)}x | ${p.maxAbsDiff.toExponential(1)}${top} | ${p.spearman.toFixed(5)}${p.spearman > 0.99 ? '' : ' (< 0.99!)'} |`);
    }
    L.push('');
  }

  // Settings that differ from the defaults, per method (batch included).
  L.push('Settings that differ from each method\'s defaults (resolved by the methods\' own parameter functions; everything else is the default):', '');
  for (const method of opts.methods) {
    const d = settingDiffs(method, opts.opts[method] ?? {}, opts.batch);
    L.push(`- ${METHOD_NAMES[method]}: ${d.length ? d.map(([k, v, def]) => `${k} ${v} (default ${def})`).join('; ') : 'none'}.`);
  }
  const w = warmOpts(opts);
  L.push(`- Warm-up before timing (not timed; compiles the same plans and kernels): ${opts.methods.map((m) => `${METHOD_NAMES[m]} ${Object.entries(w[m] ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`).join('; ')}.`, '');

  const notes = [
    '**Masked passes** = forward passes − the classification pass (and IASSA\'s one feature pass). **Masked passes/s** = masked passes / the phases that run them (RISE, LIME and IASSA: "masked passes", all rounds; mask optimisation: "optimisation", which includes the SPSA updates; E-LIME: "evolution" + "removal drops", which include the GA\'s host work). Forward-only img/s: the plan the methods use at the explanation batch, input written once, batches submitted back to back.',
    '**Outside forward passes** = 1 − (masked passes × per-image forward time) / time per explanation: classification, segmentation, attention, mask making, scoring, fitting, read-backs, host work and the padded rows of partial batches. Negative values mean the explanation\'s batches ran faster than the isolated forward measurement (timing noise, or cheaper masked inputs).',
    'Effective batches: mask optimisation runs min(2Q, batch) rows, LIME min(samples, batch), E-LIME min(batch, population) with plans for that size and its halves (≥ 8) for late generations with few uncached individuals.',
    'Peer: every batch is an `InferenceSession.run` with upload and read-back (the only way onnxruntime-web takes a JavaScript-built input), always the full batch (a last partial batch carries stale rows whose scores are ignored). Its first run at the batch (shader compilation) happens before timing; no separate warm-up explanation. The speed-up compares it with our "masked passes" + "read-back" phases (our classification excluded: the peer gets our class). The maps are compared after the spec 0.3 min-max normalisation of each (50 176 pixels; Spearman with average ranks for ties); the masks agree with our GPU generator to float32 rounding (test/xai/rise.test.ts), so the differences come from float32 forward passes and accumulation order.',
    'Models: the real SqueezeNet 1.1 and ShuffleNet-v2 fp32 models (batch dimension made symbolic, bench/models.ts). Class explained: each model\'s top-1 on the image; preprocessing guessed from the model (SqueezeNet: caffe BGR, ShuffleNet: torchvision); masking in normalised space (baseline 0), LIME and E-LIME hide superpixels with their mean colour and segment the RGB view of the model input with quickshift (LIME\'s defaults).',
  ];
  const dev = find((r) => r.type === 'device' && r.peer === 'ours');
  if (dev) notes.push(`Adapter: ${esc(dev.device)}.`);
  L.push(...notes.map((n) => `- ${n}`), '');
  return L.join('\n');
}

/** Replaces this adapter's bench-sampling section of the results file (keeps the others). */
export function spliceSampling(path: string, adapter: string, section: string): void {
  spliceSection(path, 'bench-sampling', adapter, section);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--child')) {
    const get = (k: string) => argv[argv.indexOf(k) + 1]!;
    const { models, settings } = JSON.parse(readFileSync(get('--manifest'), 'utf8')) as { models: ModelSpec[]; settings: SamplingSettings };
    const { runSamplingChild } = await import('./sampling-child.js');
    await runSamplingChild(get('--child') as 'ours' | 'ort-web', models, get('--out'), settings);
    process.exit(0);
  }
  const o = parse(argv);
  if (!existsSync(o.image)) throw new Error(`image not found: ${o.image} (pass --image)`);
  // Fail on bad settings before any child starts.
  for (const m of o.methods) settingDiffs(m, o.opts[m] ?? {}, o.batch);
  const started = Date.now();
  const load0 = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-xai-bench-sampling-'));
  try {
    const models: ModelSpec[] = [];
    for (const name of o.models) {
      const m = await loadBenchModel(name, o.modelsDir);
      const file = join(dir, `${name}.onnx`);
      writeFileSync(file, m.bytes);
      models.push({ name, label: m.label, file, inputName: m.inputName, chw: m.chw, weights: m.weights });
    }
    const handoff = join(dir, 'handoff'); mkdirSync(handoff);
    const settings: SamplingSettings = { batch: o.batch, methods: o.methods, opts: o.opts, warm: warmOpts(o), reps: o.reps, peerReps: o.peerReps, cellSeconds: o.cellSeconds, image: o.image, handoff };
    const manifest = join(dir, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ models, settings }));
    const records: Rec[] = []; const failures: Record<string, string> = {};
    const peers = ['ours', ...(o.peer && o.methods.includes('rise') ? ['ort-web'] : [])];
    for (const p of peers) {
      const out = join(dir, `${p}.jsonl`);
      const t = Date.now();
      console.error(`[bench-sampling] ${p}: starting (${o.models.join(', ')}; ${p === 'ours' ? o.methods.join(', ') : 'rise'})`);
      const f = await runBenchChild(p, manifest, out, o.childTimeout);
      if (f) failures[p] = f;
      if (existsSync(out)) for (const line of readFileSync(out, 'utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as Rec);
      console.error(`[bench-sampling] ${p} done in ${((Date.now() - t) / 1000).toFixed(0)} s${f ? ` (${f})` : ''}`);
    }
    const adapter = (records.find((r) => r.type === 'device' && r.peer === 'ours')?.device as string | undefined) ?? 'no WebGPU adapter';
    const command = `bench-sampling ${argv.join(' ')}`.trim();
    const section = buildSamplingSection({ adapter, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', command, opts: o, models, records, failures, load: [load0, loadavg()[0]!] });
    console.log(`\n${section}`);
    try { spliceSampling(o.results, adapter, section); console.error(`[bench-sampling] wrote ${o.results}`); } catch (e) { console.error(`[bench-sampling] could not write ${o.results}: ${(e as Error).message}`); }
    if (o.json) { writeFileSync(o.json, JSON.stringify({ adapter, date: new Date().toISOString(), command, options: o, failures, records }, null, 1)); console.error(`[bench-sampling] wrote ${o.json}`); }
    console.error(`[bench-sampling] total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
