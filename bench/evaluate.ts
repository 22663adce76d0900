/**
 * Benchmark of explanation quality (issue 5): the `evaluate` pipeline (tools/commands/evaluate.ts:
 * EBPG, Bbox, mIoU, Drop %, Increase %, deletion/insertion AUC, pointing game, mean and 95% interval)
 * over the shared ImageNet validation images for SISE, Ada-SISE, RISE, Grad-CAM and Score-CAM on
 * SqueezeNet 1.1 and ShuffleNet-v2, next to the SISE paper's ordering of the same methods on the same
 * metrics (methods spec 1.5: PASCAL VOC 2007 and MS COCO 2014, VGG16 and ResNet-50), with a sentence
 * per metric computed from the data: does SISE lead here too? Written to bench/RESULTS.md as this
 * adapter's `bench-evaluate` section (every other section untouched).
 *
 *   npx tsx bench/evaluate.ts [--quick] [--models squeezenet,shufflenet] [--methods sise,ada-sise,rise,gradcam,scorecam]
 *                             [--limit 50] [--rise-masks 4000] [--mu 0] [--batch 32] [--step 1792]
 *                             [--images DIR] [--models-dir DIR] [--results PATH] [--json PATH]
 */
import { parseArgs } from 'node:util';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createNodeGpu } from '../src/node.js';
import { METHODS } from '../src/xai/explain.js';
import { openModel, preprocessingFromArgs } from '../tools/cli-common.js';
import { evaluateImages, loadAnnotatedImages, summariseEvaluation, type EvaluationResult, type Metric, type MethodSummary } from '../tools/commands/evaluate.js';
import { fmt, markdownTable, type Summary } from '../tools/eval-stats.js';
import { findModelsDir } from './models.js';
import { spliceSection } from './results-file.js';

const EVAL_MODELS = { squeezenet: { file: 'squeezenet1.1-fp32.onnx', label: 'SqueezeNet 1.1 fp32' }, shufflenet: { file: 'shufflenet-v2-fp32.onnx', label: 'ShuffleNet-v2 fp32' } } as const;
type EvalModel = keyof typeof EVAL_MODELS;
const DEFAULT_METHODS = ['sise', 'ada-sise', 'rise', 'gradcam', 'scorecam'] as const;
const NAMES: Record<string, string> = { sise: 'SISE', 'ada-sise': 'Ada-SISE', rise: 'RISE', gradcam: 'Grad-CAM', 'gradcam++': 'Grad-CAM++', scorecam: 'Score-CAM', center: 'centre prior', random: 'random map' };
const name = (m: string) => NAMES[m] ?? m;

/** The metrics in the order of the tables, with their direction. */
const ORDER: readonly { key: Metric; label: string; higher: boolean; digits: number }[] = [
  { key: 'EBPG', label: 'EBPG', higher: true, digits: 1 },
  { key: 'Bbox', label: 'Bbox', higher: true, digits: 1 },
  { key: 'mIoU', label: 'mIoU', higher: true, digits: 1 },
  { key: 'Drop %', label: 'Drop %', higher: false, digits: 1 },
  { key: 'Increase %', label: 'Increase %', higher: true, digits: 1 },
  { key: 'Deletion AUC', label: 'Deletion AUC', higher: false, digits: 3 },
  { key: 'Insertion AUC', label: 'Insertion AUC', higher: true, digits: 3 },
  { key: 'Pointing', label: 'Pointing game', higher: true, digits: 1 },
];

/**
 * The SISE paper's numbers (%, all higher-better except Drop %) for the methods this benchmark runs.
 * Source: S. Sattarzadeh, M. Sudhakar, A. Lem, S. Mehryar, K. N. Plataniotis, J. Jang, H. Kim, Y. Jeong,
 * S. Lee, K. Bae, "Explaining Convolutional Neural Networks through Attribution-Based Input Sampling and
 * Block-Wise Feature Aggregation", AAAI 2021: Table 1 (PASCAL VOC 2007 test, TorchRay VGG16 / ResNet-50);
 * MS COCO 2014 from the arXiv v2 appendix (2010.00672) as quoted in the authors' blog, Table 2. Copied
 * from ../shared/spec/methods.md §1.5. Ada-SISE (ICASSP 2021) has no verified table (spec 2.5): none here.
 * The paper reports no deletion/insertion AUC or pointing game.
 */
export const SISE_PAPER = {
  source: 'Sattarzadeh et al., AAAI 2021 (SISE), Table 1 (VOC07) and the arXiv appendix / blog Table 2 (COCO 2014); ../shared/spec/methods.md §1.5',
  settings: [
    { dataset: 'VOC07', model: 'ResNet-50', values: {
      gradcam: { EBPG: 60.08, mIoU: 32.16, Bbox: 60.25, 'Drop %': 35.80, 'Increase %': 36.58 },
      rise: { EBPG: 32.86, mIoU: 27.4, Bbox: 55.55, 'Drop %': 39.77, 'Increase %': 37.08 },
      scorecam: { EBPG: 35.56, mIoU: 31.0, Bbox: 60.02, 'Drop %': 35.36, 'Increase %': 37.08 },
      sise: { EBPG: 66.08, mIoU: 31.37, Bbox: 61.59, 'Drop %': 30.92, 'Increase %': 40.22 },
    } },
    { dataset: 'VOC07', model: 'VGG16', values: {
      gradcam: { EBPG: 55.44, mIoU: 26.52, Bbox: 51.7, 'Drop %': 49.47, 'Increase %': 31.08 },
      rise: { EBPG: 33.44, mIoU: 27.11, Bbox: 54.59, 'Drop %': 39.62, 'Increase %': 37.76 },
      scorecam: { EBPG: 46.42, mIoU: 27.71, Bbox: 54.98, 'Drop %': 39.79, 'Increase %': 36.42 },
      sise: { EBPG: 60.54, mIoU: 27.79, Bbox: 55.68, 'Drop %': 38.40, 'Increase %': 37.96 },
    } },
    { dataset: 'COCO', model: 'ResNet-50', values: {
      gradcam: { EBPG: 25.3, mIoU: 17.89, Bbox: 32.39, 'Drop %': 33.42, 'Increase %': 48.39 },
      rise: { EBPG: 11.35, mIoU: 14.69, Bbox: 29.43, 'Drop %': 37.93, 'Increase %': 45.44 },
      scorecam: { EBPG: 12.6, mIoU: 16.36, Bbox: 29.27, 'Drop %': 35.06, 'Increase %': 47.25 },
      sise: { EBPG: 29.43, mIoU: 17.03, Bbox: 33.34, 'Drop %': 31.41, 'Increase %': 49.76 },
    } },
    { dataset: 'COCO', model: 'VGG16', values: {
      gradcam: { EBPG: 23.77, mIoU: 15.04, Bbox: 28.98, 'Drop %': 44.46, 'Increase %': 40.28 },
      rise: { EBPG: 11.5, mIoU: 14.94, Bbox: 28.9, 'Drop %': 38.69, 'Increase %': 46.05 },
      scorecam: { EBPG: 12.59, mIoU: 15.52, Bbox: 27.8, 'Drop %': 33.73, 'Increase %': 49.26 },
      sise: { EBPG: 28.16, mIoU: 15.57, Bbox: 29.63, 'Drop %': 32.9, 'Increase %': 50.56 },
    } },
  ] as { dataset: string; model: string; values: Record<string, Partial<Record<Metric, number>>> }[],
};

const HELP = `usage: npx tsx bench/evaluate.ts [--quick] [options]
  --quick            sized for a 2-core software adapter: SqueezeNet only, --limit 4, RISE 500 masks
                     (explicit options still win); marked as such in the results section
  --models LIST      ${Object.keys(EVAL_MODELS).join(',')} (default: both; quick: squeezenet)
  --methods LIST     any of ${Object.keys(METHODS).join(', ')} (default: ${DEFAULT_METHODS.join(',')})
  --limit N          first N images of the folder (default 50 = all of ../shared/images/imagenet-val; quick 4)
  --rise-masks N     RISE's number of masks (default 4000: the RISE paper's setting with s = 7, p = 0.5,
                     methods spec 6.1, and src/xai/rise.ts' 'paper' preset; quick 500)
  --mu X             SISE's gradient threshold ratio (default 0 = the paper's SISE)
  --batch N          forward passes per batch (default 32)
  --step N           pixels per deletion/insertion step (default 1792 = 224·8, the RISE batch evaluation)
  --images DIR       image folder with annotations.json (default ../shared/images/imagenet-val)
  --models-dir DIR   the shared models (default ../shared/models)
  --results PATH     Markdown results file (default bench/RESULTS.md): this adapter's bench-evaluate section is replaced
  --json PATH        settings, per-image rows, statistics, ranks and timings as JSON`;

export interface Options {
  quick: boolean; models: EvalModel[]; methods: string[]; limit: number; riseMasks: number; mu: number; batch: number; step: number;
  images: string; modelsDir: string; results: string; json?: string;
}

function parse(argv: string[]): Options {
  const { values: v } = parseArgs({ args: argv, strict: true, options: {
    quick: { type: 'boolean' }, models: { type: 'string' }, methods: { type: 'string' }, limit: { type: 'string' }, 'rise-masks': { type: 'string' },
    mu: { type: 'string' }, batch: { type: 'string' }, step: { type: 'string' }, images: { type: 'string' }, 'models-dir': { type: 'string' },
    results: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  } });
  if (v.help) { console.log(HELP); process.exit(0); }
  const quick = !!v.quick;
  const int = (k: string, s: string | undefined, d: number) => {
    const n = s === undefined ? d : Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${k} must be a positive integer, got '${s}'`);
    return n;
  };
  const list = (k: string, s: string | undefined, all: readonly string[], d: readonly string[]) => {
    const xs = s === undefined ? [...d] : s.split(',').map((x) => x.trim()).filter(Boolean);
    for (const x of xs) if (!all.includes(x)) throw new Error(`--${k}: unknown '${x}' (choose from ${all.join(', ')})`);
    if (!xs.length) throw new Error(`--${k} is empty`);
    return xs;
  };
  const mu = v.mu === undefined ? 0 : Number(v.mu);
  if (!(mu >= 0 && mu <= 1)) throw new Error(`--mu must be in [0, 1], got '${v.mu}'`);
  const modelsDir = findModelsDir(v['models-dir']);
  const scriptDir = dirname(process.argv[1] ?? '.');
  return {
    quick, mu,
    models: list('models', v.models, Object.keys(EVAL_MODELS), quick ? ['squeezenet'] : Object.keys(EVAL_MODELS)) as EvalModel[],
    methods: list('methods', v.methods, Object.keys(METHODS), DEFAULT_METHODS),
    limit: int('limit', v.limit, quick ? 4 : 50),
    riseMasks: int('rise-masks', v['rise-masks'], quick ? 500 : 4000),
    batch: int('batch', v.batch, 32), step: int('step', v.step, 224 * 8),
    images: resolve(v.images ?? join(modelsDir, '..', 'images', 'imagenet-val')), modelsDir,
    results: v.results ?? (existsSync(resolve('bench/evaluate.ts')) || existsSync(resolve('bench/RESULTS.md')) ? resolve('bench/RESULTS.md') : join(scriptDir, 'RESULTS.md')),
    json: v.json,
  };
}

export interface ModelRun {
  model: EvalModel; label: string; images: number; failed?: string;
  result?: EvaluationResult; stats?: Record<string, MethodSummary>; wallMs: number;
}

const better = (higher: boolean) => (a: number, b: number) => (higher ? b - a : a - b);
const overlap = (a: Summary, b: Summary) => a.lo <= b.hi && b.lo <= a.hi;
const ordinal = (n: number) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
const secs = (ms: number) => (ms >= 100_000 ? (ms / 1000).toFixed(0) : ms >= 10_000 ? (ms / 1000).toFixed(1) : (ms / 1000).toFixed(2));

/** Methods (no priors) with a finite mean, best first. */
function rank(stats: Record<string, MethodSummary>, methods: readonly string[], key: Metric, higher: boolean): string[] {
  return methods.filter((m) => Number.isFinite(stats[m]?.metrics[key].mean)).sort((a, b) => better(higher)(stats[a]!.metrics[key].mean, stats[b]!.metrics[key].mean));
}

/** Means rounded as the tables show them: equal ones are a tie. */
const shown = (x: number, digits: number) => Number(x.toFixed(digits));

/** "A > B = C": the rank order, with '=' between methods whose shown means are equal. */
function rankText(stats: Record<string, MethodSummary>, methods: readonly string[], spec: (typeof ORDER)[number]): string {
  const r = rank(stats, methods, spec.key, spec.higher);
  return r.map((m, i) => (i === 0 ? '' : shown(stats[r[i - 1]!]!.metrics[spec.key].mean, spec.digits) === shown(stats[m]!.metrics[spec.key].mean, spec.digits) ? ' = ' : ' > ') + name(m)).join('');
}

/** The paper's ordering of the run methods it reports, for one metric and setting. */
function paperRank(setting: (typeof SISE_PAPER.settings)[number], methods: readonly string[], key: Metric, higher: boolean): string {
  const ms = methods.filter((m) => setting.values[m]?.[key] !== undefined).sort((a, b) => better(higher)(setting.values[a]![key]!, setting.values[b]![key]!));
  return ms.length ? ms.map((m) => `${name(m)} ${setting.values[m]![key]}`).join(' > ') : '';
}

/** "Does SISE lead here too?", answered from the means and 95% intervals, with the paper's answer beside it. */
function verdict(stats: Record<string, MethodSummary>, methods: readonly string[], spec: (typeof ORDER)[number], n: number): string {
  const { key, higher, digits } = spec;
  const r = rank(stats, methods, key, higher);
  const show = (m: string) => `${name(m)} ${fmt(stats[m]!.metrics[key], digits)}`;
  let here: string;
  if (!methods.includes('sise')) here = 'SISE was not run.';
  else if (r.length < 2) here = 'Too few methods with a value to compare.';
  else {
    const pos = r.indexOf('sise');
    const s = stats.sise!.metrics[key];
    const best = shown(stats[r[0]!]!.metrics[key].mean, digits);
    const leaders = r.filter((m) => shown(stats[m]!.metrics[key].mean, digits) === best);
    if (pos >= 0 && leaders.length > 1 && leaders.includes('sise')) {
      here = `Tied: ${leaders.map(show).join(', ')} share the best mean at the shown precision.`;
    } else if (pos === 0) {
      const second = r[1]!;
      here = overlap(s, stats[second]!.metrics[key])
        ? `Yes by the mean: ${show('sise')} ahead of ${show(second)}, but the 95% intervals overlap, so ${n} images do not separate them.`
        : `Yes: ${show('sise')} ahead of ${show(second)}, with non-overlapping 95% intervals.`;
    } else if (pos < 0) here = 'SISE has no value here.';
    else {
      const first = r[0]!;
      const family = first === 'ada-sise' ? ' (SISE\'s own variant)' : '';
      here = `No: ${show(first)}${family} leads; SISE is ${ordinal(pos + 1)} of ${r.length} with ${fmt(s, digits)}` +
        (overlap(s, stats[first]!.metrics[key]) ? `, but the 95% intervals overlap, so ${n} images do not separate them.` : ', and the intervals do not overlap.');
    }
  }
  const settings = SISE_PAPER.settings.filter((st) => Object.values(st.values).some((v) => v[key] !== undefined));
  if (!settings.length) return `${here} (The SISE paper does not report this metric.)`;
  const led = settings.filter((st) => {
    const ms = methods.filter((m) => st.values[m]?.[key] !== undefined);
    return ms.includes('sise') && ms.every((m) => m === 'sise' || better(higher)(st.values.sise![key]!, st.values[m]![key]!) <= 0);
  });
  const paper = !methods.includes('sise') ? '' : ` In the paper, among the same methods, SISE leads in ${led.length} of ${settings.length} settings${led.length && led.length < settings.length ? ` (${led.map((st) => `${st.dataset} ${st.model}`).join(', ')})` : ''}.`;
  return here + paper;
}

export function buildSection(o: { adapter: string; date: string; command: string; opts: Options; runs: ModelRun[]; wallMs: number; load: [number, number] }): string {
  const { opts } = o;
  const L: string[] = [`## ${o.adapter}`, ''];
  const n = Math.max(0, ...o.runs.map((r) => r.images));
  L.push(`${o.date} · Node ${process.version} · \`${o.command}\` · ${n} image(s) of \`${basename(opts.images)}\` (ILSVRC2012 val, the first ${n} of 50, boxes from the localisation ground truth) · methods ${opts.methods.map(name).join(', ')} · batch ${opts.batch} · deletion/insertion step ${opts.step} · SISE μ = ${opts.mu}${opts.methods.includes('rise') ? ` · RISE ${opts.riseMasks} masks, s 7, p 0.5` : ''} · wall time ${secs(o.wallMs)} s · load average ${o.load[0].toFixed(1)} at start, ${o.load[1].toFixed(1)} at end (${cpus().length} CPUs)`, '');
  if (opts.quick) L.push(`**Quick run** (sized for a 2-core software adapter: SqueezeNet only, ${n} images, RISE ${opts.riseMasks} masks; explicit options win): indicative only, the intervals are wide.`, '');
  const diffs = [
    `data: ${n} ImageNet validation images, single-label, softmax scores (the paper: PASCAL VOC 2007 test, 4952 images, and MS COCO 2014, multi-label)`,
    `models: ${opts.models.map((m) => EVAL_MODELS[m].label).join(', ')} (the paper: TorchRay VGG16 and ResNet-50)`,
    ...(opts.methods.includes('rise') && opts.riseMasks !== 4000 ? [`RISE: ${opts.riseMasks} masks instead of 4000`] : []),
    ...(opts.methods.includes('sise') && opts.mu !== 0 ? [`SISE: μ = ${opts.mu} instead of 0`] : []),
    'masking in normalised space with baseline 0 for Drop/Increase and deletion (spec 0.3 [P]); deletion/insertion and the pointing game are not in the paper',
  ];
  L.push(`**Differs from the SISE paper's setup**: ${diffs.join('; ')}.`, '');
  for (const run of o.runs) {
    L.push(`### ${run.label}`, '');
    if (run.failed || !run.result || !run.stats) { L.push(`Failed: ${run.failed ?? 'no result'}`, ''); continue; }
    const { result, stats } = run;
    const methods = opts.methods;
    const anyTime = result.methodTime[methods[0]!];
    const correct = anyTime ? run.images - (anyTime.explanations - run.images) : NaN;
    L.push(`Top-1 equals the label on ${correct} of ${run.images} images (elsewhere each method explains two classes: the label for the box metrics, the top-1 for the model-truth metrics). Wall time ${secs(run.wallMs)} s; metric passes (deletion/insertion, Drop/Increase, all maps) ${secs(result.metricsMs / run.images)} s per image.`, '');
    const header = ['method', 'images', ...ORDER.map((s) => `${s.label} ${s.higher ? '↑' : '↓'}`), 's / image', 's / explanation'];
    const rows = result.methods.map((m) => {
      const t = result.methodTime[m];
      const st = stats[m]!;
      return [methods.includes(m) ? `**${name(m)}**` : name(m), String(st.images), ...ORDER.map((s) => fmt(st.metrics[s.key], s.digits)),
        t ? secs(t.ms / run.images) : '', t && t.explanations ? secs(t.ms / t.explanations) : ''];
    });
    L.push(markdownTable(header, rows), '');
    L.push(`Rank order of the methods by mean, best first (priors left out; \`>\` = better: higher, or lower for Drop % and deletion AUC), and the SISE paper's ordering of those of them it reports (values in %, ${SISE_PAPER.settings.length} settings):`, '');
    const rankHeader = ['metric', 'here', ...SISE_PAPER.settings.map((s) => `paper ${s.dataset} ${s.model}`)];
    L.push(markdownTable(rankHeader, ORDER.map((s) => [s.label, rankText(stats, methods, s),
      ...SISE_PAPER.settings.map((st) => paperRank(st, methods, s.key, s.higher) || '—')])), '');
    L.push(`Does SISE lead here too?`, '');
    for (const s of ORDER) L.push(`- **${s.label}**: ${verdict(stats, methods, s, run.images)}`);
    L.push('');
  }
  L.push(...[
    'Pipeline: `evaluate` (tools/commands/evaluate.ts) on each model: methods explain the labelled class for EBPG, Bbox, mIoU and the pointing game (maps resampled onto the original image, boxes as annotated) and the top-1 class for deletion/insertion (spec 7.6) and Drop/Increase (SISE\'s top-15% form, spec 7.5). Mean [95% interval: mean ± 1.96·sd/√n]; the pointing game (15 px) is the mean over classes of the per-class hit rate, its interval over classes. Centre prior and random map: reference rows for the chance level (box metrics are high by chance on ImageNet, where objects often fill the crop).',
    '"Intervals overlap" compares the two methods\' own 95% intervals, a conservative test (the images are shared, so a paired test would be sharper); overlapping intervals mean the ordering here is not established by these images.',
    `Paper numbers: ${SISE_PAPER.source}; Ada-SISE has no verified table. Wall time per method: its explanation calls only (both classes where they differ), not the metric passes; s / image divides by the images, s / explanation by the calls.`,
    `Adapter: ${o.adapter}.`,
  ].map((x) => `- ${x}`), '');
  return L.join('\n');
}

/**
 * Progress on stderr with an ETA from each method's own mean time per image (the methods differ by
 * orders of magnitude, so a count of units would mislead); an image's metric passes are counted with
 * the first method of the next image. One line per update off a TTY.
 */
class Progress {
  private readonly start = performance.now();
  private last = performance.now();
  private readonly spent = new Map<string, { ms: number; n: number }>();
  private done = 0;
  constructor(private readonly methods: readonly string[], private readonly perMethod: number, private readonly out = process.stderr) {}
  /** Call when a model starts, so its loading is not charged to a method. */
  restart(): void { this.last = performance.now(); }
  update(method: string, label: string): void {
    const now = performance.now();
    const s = this.spent.get(method) ?? { ms: 0, n: 0 };
    s.ms += now - this.last; s.n++; this.spent.set(method, s);
    this.last = now; this.done++;
    let eta = 0;
    for (const m of this.methods) {
      const t = this.spent.get(m);
      eta = t ? eta + (t.ms / t.n) * (this.perMethod - t.n) : NaN;
    }
    const total = this.methods.length * this.perMethod;
    const elapsed = (now - this.start) / 1000;
    const line = `[bench-evaluate] ${this.done}/${total} ${label} · ${elapsed.toFixed(0)} s elapsed, ETA ${Number.isFinite(eta) ? `${(eta / 1000).toFixed(0)} s` : '? (after every method has run once)'}`;
    this.out.write(this.out.isTTY ? `\r${line.padEnd(110)}` : `${line}\n`);
  }
  finish(): void { if (this.out.isTTY) this.out.write('\n'); }
}

/** Replaces this adapter's bench-evaluate section of the results file (keeps the others). */
export function spliceEvaluate(path: string, adapter: string, section: string): void {
  spliceSection(path, 'bench-evaluate', adapter, section);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parse(argv);
  const started = Date.now();
  const load0 = loadavg()[0]!;
  const images = loadAnnotatedImages(o.images, undefined, o.limit);
  for (const m of o.models) if (!existsSync(join(o.modelsDir, EVAL_MODELS[m].file))) throw new Error(`model not found: ${join(o.modelsDir, EVAL_MODELS[m].file)} (pass --models-dir)`);
  const gpu = await createNodeGpu();
  const runs: ModelRun[] = [];
  const bar = new Progress(o.methods, o.models.length * images.length);
  try {
    console.error(`[bench-evaluate] ${gpu.adapterName}: ${o.models.join(', ')} × ${o.methods.join(', ')} on ${images.length} images (RISE ${o.riseMasks} masks, μ ${o.mu}, batch ${o.batch})`);
    for (const key of o.models) {
      const { file, label } = EVAL_MODELS[key];
      const t0 = Date.now();
      const run: ModelRun = { model: key, label, images: images.length, wallMs: 0 };
      runs.push(run);
      try {
        const { model } = await openModel(join(o.modelsDir, file), gpu);
        bar.restart();
        try {
          const { p } = preprocessingFromArgs(model, {});
          run.result = await evaluateImages(model, images, p, {
            methods: o.methods, step: o.step, batch: o.batch, mu: o.mu, methodOptions: { rise: { masks: o.riseMasks } },
            onProgress: (done, what) => bar.update(o.methods[(done - 1) % o.methods.length]!, `${key} ${what}`),
          });
          run.stats = summariseEvaluation(run.result.rows, run.result.methods);
        } finally {
          model.destroy();
        }
      } catch (e) {
        run.failed = (e as Error).message.split('\n')[0]!;
        console.error(`\n[bench-evaluate] ${key} failed: ${(e as Error).stack ?? e}`);
      }
      run.wallMs = Date.now() - t0;
      bar.finish();
      console.error(`[bench-evaluate] ${key} done in ${secs(run.wallMs)} s${run.result ? ` (${Object.entries(run.result.methodTime).map(([m, t]) => `${m} ${secs(t.ms)} s`).join(', ')}, metrics ${secs(run.result.metricsMs)} s)` : ''}`);
    }
  } finally {
    gpu.destroy();
  }
  const adapter = gpu.adapterName || 'no WebGPU adapter';
  const command = `bench-evaluate ${argv.join(' ')}`.trim();
  const wallMs = Date.now() - started;
  const section = buildSection({ adapter, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', command, opts: o, runs, wallMs, load: [load0, loadavg()[0]!] });
  console.log(`\n${section}`);
  try { spliceEvaluate(o.results, adapter, section); console.error(`[bench-evaluate] wrote ${o.results}`); } catch (e) { console.error(`[bench-evaluate] could not write ${o.results}: ${(e as Error).message}`); }
  if (o.json) {
    const models = runs.map((r) => ({
      model: r.model, label: r.label, images: r.images, wallMs: r.wallMs, failed: r.failed, methodTime: r.result?.methodTime, metricsMs: r.result?.metricsMs,
      stats: r.stats, ranks: r.stats ? Object.fromEntries(ORDER.map((s) => [s.key, rank(r.stats!, o.methods, s.key, s.higher)])) : undefined,
      verdicts: r.stats ? Object.fromEntries(ORDER.map((s) => [s.key, verdict(r.stats!, o.methods, s, r.images)])) : undefined,
      rows: r.result?.rows,
    }));
    writeFileSync(o.json, JSON.stringify({ adapter, date: new Date().toISOString(), command, options: o, wallMs, paper: SISE_PAPER, models }, null, 1));
    console.error(`[bench-evaluate] wrote ${o.json}`);
  }
  console.error(`[bench-evaluate] total ${secs(wallMs)} s`);
  if (runs.some((r) => r.failed)) process.exitCode = 1;
}

// Runs when executed (npx tsx bench/evaluate.ts), not when imported (for SISE_PAPER, buildSection, spliceEvaluate).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main().catch((e) => { console.error(e); process.exit(1); });
