/**
 * SISE study (issue 22): why SISE trails RISE on the model-truth metrics, and which fusion closes it.
 * One paper-faithful SISE run per image (top-1 class) gives the per-block maps; every fusion variant
 * (hard/soft gate, ranking of the gated-zero region by the deepest map, un-gated sum, each block
 * alone) is derived from them on the host (src/xai/sise-fusion.ts). SISE at μ = 0.5 and RISE at
 * SISE's own number of forward passes are extra runs. Every map is scored with the project's
 * metrics (src/xai/metrics: EBPG, Bbox on the original pixels; deletion/insertion AUC, Drop %,
 * Increase % on the model input). One JSON line per image goes to bench/out/sise-study-MODEL.jsonl
 * as it is done; a rerun skips the images already there. `--extra rise-eq|rise4000|mu05` runs that
 * extra map (RISE at SISE's passes or at N = 4000, SISE at μ = 0.5) on the first `--limit` images
 * the main run has done, into its own JSONL. Model-truth metrics (forward passes) are computed for
 * the main variants and the deepest block; EBPG/Bbox (host only) for every map. `--report` prints
 * the tables docs/sise-study.md quotes (and writes them to bench/out/sise-study-MODEL.md).
 *
 *   npx tsx bench/sise-study.ts [--model squeezenet|shufflenet] [--limit 30] [--step 7168] [--batch 32]
 *                               [--extra rise-eq|rise4000|mu05] [--grid 3] [--report]
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openModel, preprocessingFor, SHARED } from '../tools/cli-common.js';
import { loadAnnotatedImages } from '../tools/commands/evaluate.js';
import { decodeImage, encodePng } from '../src/image-io.js';
import { drawText, fontScale, GLYPH_H, heatmapOverlay, overlayGrid, textWidth } from '../src/render.js';
import { preprocessImage, modelInputToRgb, type RgbaImage } from '../src/xai/preprocess.js';
import { topClasses } from '../src/xai/explain.js';
import { sise } from '../src/xai/sise.js';
import { rise } from '../src/xai/rise.js';
import { fuseBlockMaps } from '../src/xai/sise-fusion.js';
import { mapToOriginal, type SaliencyMap } from '../src/xai/explanation.js';
import { saliencyRanks, boxesToMask, bboxScore, energyPointingGame, deletionInsertionBatch, dropIncrease } from '../src/xai/metrics/index.js';

const { values: args } = parseArgs({ options: {
  model: { type: 'string', default: 'squeezenet' }, limit: { type: 'string', default: '30' }, step: { type: 'string', default: '7168' },
  batch: { type: 'string', default: '32' }, extra: { type: 'string' },
  grid: { type: 'string', default: '3' }, report: { type: 'boolean' }, 'grid-png': { type: 'string' },
} });
const MODELS: Record<string, string> = { squeezenet: 'squeezenet1.1-fp32.onnx', shufflenet: 'shufflenet-v2-fp32.onnx' };
const modelName = args.model!;
const OUT = resolve('bench/out');
mkdirSync(OUT, { recursive: true });
const jsonl = join(OUT, `sise-study-${modelName}.jsonl`);
const EXTRAS = ['rise-eq', 'rise4000', 'mu05'] as const;
const extra = args.extra as (typeof EXTRAS)[number] | undefined;
if (extra && !EXTRAS.includes(extra)) throw new Error(`--extra must be one of ${EXTRAS.join(', ')}`);
const extraJsonl = (x: string) => join(OUT, `sise-study-${modelName}-${x}.jsonl`);
const step = Number(args.step), batch = Number(args.batch), limit = Number(args.limit);

type Scores = { EBPG: number; Bbox: number; del?: number; ins?: number; drop?: number; inc?: number; zero: number };
const MODEL_TRUTH = new Set(['sise-paper', 'soft', 'hard+deepest', 'sum (no gate)', 'centre prior']);
interface Row { file: string; label: number; top: number; masks: number; passes: number; siseMs: number; riseMs?: number; fusionDiff: number; sameRanks?: boolean; variants: Record<string, Scores> }

function done(path: string): Map<string, Row> {
  const m = new Map<string, Row>();
  if (!existsSync(path)) return m;
  for (const line of readFileSync(path, 'utf8').split('\n')) if (line.trim()) { const r = JSON.parse(line) as Row; m.set(r.file, r); }
  return m;
}

const centre = (h: number, w: number): Float32Array => {
  const d = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = Math.exp(-(((x - w / 2) / (w / 4)) ** 2 + ((y - h / 2) / (h / 4)) ** 2) / 2);
  return d;
};

function cropImage(tensor: Float32Array, p: Parameters<typeof modelInputToRgb>[1], size: number): RgbaImage {
  const rgb = modelInputToRgb(tensor, p);
  const data = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) { for (let c = 0; c < 3; c++) data[i * 4 + c] = Math.round(rgb[i * 3 + c]! * 255); data[i * 4 + 3] = 255; }
  return { width: size, height: size, data };
}

async function main(): Promise<void> {
  if (args.report) return report();
  if (args['grid-png']) return composeGrid(args['grid-png']);
  const { model } = await openModel(join(SHARED, 'models', MODELS[modelName]!), undefined, { tune: false });
  const { p } = preprocessingFor(model, undefined);
  const images = loadAnnotatedImages(join(SHARED, 'images', 'imagenet-val'), undefined, limit);
  const mainRows = done(jsonl);
  const have = extra ? done(extraJsonl(extra)) : mainRows;
  const gridN = Number(args.grid);
  for (const [i, { a, img }] of images.entries()) {
    if (have.has(a.file)) continue;
    const prep = preprocessImage(img, p);
    const H = p.size, W = p.size;
    const boxes = boxesToMask(a.boxes.map(([xmin, ymin, xmax, ymax]) => ({ xmin: xmin!, ymin: ymin!, xmax: xmax!, ymax: ymax! })), a.width, a.height);
    const [top] = await topClasses(model, [prep]);
    const maps: Record<string, Float32Array> = {};
    const row: Row = { file: a.file, label: a.label_index, top: top!, masks: 0, passes: 0, siseMs: 0, fusionDiff: 0, variants: {} };
    if (extra) {
      const base = mainRows.get(a.file);
      if (!base) continue;
      const t0 = performance.now();
      if (extra === 'mu05') {
        const e5 = await sise(model, prep.tensor, { classIndex: top, batchSize: batch, mu: 0.5, gate: 'hard', outside: 'zero' });
        row.masks = e5.params['masks'] as number; row.passes = e5.forwardPasses;
        maps['μ 0.5'] = e5.map.data;
        maps['μ 0.5 hard+deepest'] = Float32Array.from(fuseBlockMaps(e5.layers!.map((l) => l.map.data), { gate: 'hard', outside: 'deepest' }));
      } else {
        const r = await rise(model, prep.tensor, { classIndex: top, masks: extra === 'rise4000' ? 4000 : base.passes, batchSize: batch });
        maps[extra === 'rise4000' ? 'RISE 4000' : 'RISE (SISE passes)'] = r.map.data;
        row.passes = r.forwardPasses;
      }
      row.riseMs = performance.now() - t0;
    } else {
      const t0 = performance.now();
      const e = await sise(model, prep.tensor, { classIndex: top, batchSize: batch, mu: 0, gate: 'hard', outside: 'zero' });
      row.siseMs = performance.now() - t0;
      row.masks = e.params['masks'] as number; row.passes = e.forwardPasses;
      const blocks = e.layers!.map((l) => l.map.data);
      maps['sise-paper'] = e.map.data;
      const host = fuseBlockMaps(blocks, { gate: 'hard' });
      row.fusionDiff = host.reduce((m, v, k) => Math.max(m, Math.abs(v - e.map.data[k]!)), 0);
      maps['soft'] = Float32Array.from(fuseBlockMaps(blocks, { gate: 'soft' }));
      maps['hard+deepest'] = Float32Array.from(fuseBlockMaps(blocks, { gate: 'hard', outside: 'deepest', outsideScale: 0.5 }));
      // The same ranking with the outside region at most 1 % of the smallest gated value: only the
      // host metrics (EBPG, Bbox) can differ, so it gets no forward passes; ranks checked equal.
      maps['hard+deepest 1%'] = Float32Array.from(fuseBlockMaps(blocks, { gate: 'hard', outside: 'deepest', outsideScale: 0.01 }));
      const r50 = saliencyRanks(maps['hard+deepest']!);
      row.sameRanks = saliencyRanks(maps['hard+deepest 1%']!).every((r, k) => r === r50[k]);
      writeFileSync(join(OUT, `blocks-${modelName}-${i}.f32`), new Uint8Array(Float32Array.from(blocks.flatMap((b) => [...b])).buffer));
      maps['soft+deepest'] = Float32Array.from(fuseBlockMaps(blocks, { gate: 'soft', outside: 'deepest' }));
      const sum = new Float32Array(H * W);
      for (const b of blocks) for (let k = 0; k < sum.length; k++) sum[k]! += b[k]!;
      maps['sum (no gate)'] = sum;
      blocks.forEach((b, k) => { maps[`block ${k + 1}${k === blocks.length - 1 ? ' (deepest)' : ''}`] = b; });
      maps['centre prior'] = centre(H, W);
      if (i < gridN) {
        const crop = cropImage(prep.tensor, p, W);
        const pick = ['sise-paper', 'soft', 'hard+deepest', ...Object.keys(maps).filter((k) => k.startsWith('block'))];
        const tiles = pick.filter((k) => maps[k]).map((k) => ({ title: k.replace(/[()]/g, ''), image: heatmapOverlay(crop, { width: W, height: H, data: maps[k]! }) }));
        writeFileSync(join(OUT, `grid-${modelName}-${i}.png`), encodePng(overlayGrid(tiles)));
      }
    }
    // Model-truth metrics (forward passes) only for the maps worth their cost; EBPG/Bbox for all.
    const names = Object.keys(maps);
    const scored = names.filter((k) => extra || MODEL_TRUTH.has(k) || k.endsWith('(deepest)'));
    const items = scored.map((k) => ({ image: prep.tensor, map: maps[k]!, classIndex: top }));
    const causal = await deletionInsertionBatch(model, items, { step, batchSize: batch });
    const di = await dropIncrease(model, items, { forms: ['top'], batchSize: batch });
    names.forEach((k) => {
      const m: SaliencyMap = { width: W, height: H, data: maps[k]! };
      const orig = mapToOriginal(m, prep.transform);
      let zero = 0; for (const v of m.data) if (v === 0) zero++;
      const s = scored.indexOf(k);
      row.variants[k] = {
        EBPG: 100 * energyPointingGame(orig, boxes), Bbox: 100 * bboxScore(orig, boxes), zero: zero / m.data.length,
        ...(s >= 0 ? { del: causal[s]!.deletion!.auc, ins: causal[s]!.insertion!.auc,
          drop: (100 * Math.max(0, di.Y[s]! - di.top!.O[s]!)) / di.Y[s]!, inc: di.top!.O[s]! > di.Y[s]! ? 100 : 0 } : {}),
      };
    });
    appendFileSync(extra ? extraJsonl(extra) : jsonl, JSON.stringify(row) + '\n');
    console.log(`${new Date().toISOString()} ${i + 1}/${images.length} ${a.file} ${extra ?? 'sise'} passes ${row.passes} ${((row.siseMs || row.riseMs || 0) / 1000).toFixed(1)} s` +
      ` ${Object.entries(row.variants).filter(([, v]) => v.ins !== undefined).map(([k, v]) => `${k} ins ${v.ins!.toFixed(3)}`).join(', ')}`);
  }
  model.destroy();
  process.exit(0);
}

// ---------------------------------------------------------------- report

const KEYS: { k: keyof Scores; label: string; higher: boolean; d: number }[] = [
  { k: 'EBPG', label: 'EBPG', higher: true, d: 1 }, { k: 'Bbox', label: 'Bbox', higher: true, d: 1 },
  { k: 'drop', label: 'Drop %', higher: false, d: 1 }, { k: 'inc', label: 'Increase %', higher: true, d: 1 },
  { k: 'ins', label: 'insertion AUC', higher: true, d: 3 }, { k: 'del', label: 'deletion AUC', higher: false, d: 3 },
];

/** Mean and percentile-bootstrap 95 % interval (2000 resamples, seeded). */
function boot(xs: readonly number[]): { mean: number; lo: number; hi: number } {
  const n = xs.length, mean = xs.reduce((s, v) => s + v, 0) / n;
  let s = 12345;
  const rnd = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
  const ms: number[] = [];
  for (let r = 0; r < 2000; r++) { let t = 0; for (let i = 0; i < n; i++) t += xs[Math.floor(rnd() * n)]!; ms.push(t / n); }
  ms.sort((a, b) => a - b);
  return { mean, lo: ms[50]!, hi: ms[1949]! };
}
const f = (x: { mean: number; lo: number; hi: number }, d: number) => `${x.mean.toFixed(d)} [${x.lo.toFixed(d)}, ${x.hi.toFixed(d)}]`;

function report(): void {
  const rows = [...done(jsonl).values()];
  if (!rows.length) throw new Error(`no rows in ${jsonl}`);
  // Extra maps (their own JSONL files) join the main rows by image.
  const extras = EXTRAS.map((x) => done(extraJsonl(x)));
  const maps = (r: Row): Record<string, Scores> => Object.assign({}, r.variants, ...extras.map((e) => e.get(r.file)?.variants ?? {}));
  const variants = [...new Set(rows.flatMap((r) => Object.keys(maps(r))))];
  const val = (r: Row, v: string, k: keyof Scores) => maps(r)[v]?.[k];
  const vals = (v: string, k: keyof Scores, base?: string) => rows.flatMap((r) => {
    const x = val(r, v, k), y = base ? val(r, base, k) : 0;
    return x === undefined || y === undefined ? [] : [x - y];
  });
  const n = rows.length;
  const extraPasses = (x: number) => { const e = [...extras[x]!.values()]; return e.length ? `${e.length} images, median ${median(e.map((r) => r.passes))} passes, ${(e.reduce((s, r) => s + (r.riseMs ?? 0), 0) / e.length / 1000).toFixed(1)} s / image` : 'not run'; };
  const out: string[] = [];
  out.push(`${n} images (${modelName}, top-1 class explained; top-1 = label on ${rows.filter((r) => r.label === r.top).length}). SISE μ = 0: median ${median(rows.map((r) => r.masks))} masks, ` +
    `${(rows.reduce((s, r) => s + r.siseMs, 0) / n / 1000).toFixed(1)} s / image (lavapipe, shared 2-core VM). RISE at SISE's passes: ${extraPasses(0)}; RISE N = 4000: ${extraPasses(1)}; SISE μ = 0.5: ${extraPasses(2)}. ` +
    `Host hard cascade against the GPU kernel: max |Δ| ${Math.max(...rows.map((r) => r.fusionDiff)).toExponential(1)}. Deletion/insertion step ${step} px.`);
  out.push('', '### Means [95 % bootstrap interval]', '', `| map | n | ${KEYS.map((k) => k.label).join(' | ')} | zero pixels (median) |`, `|---|---|${KEYS.map(() => '---|').join('')}---|`);
  for (const v of variants) {
    out.push(`| ${v} | ${vals(v, 'EBPG').length} | ${KEYS.map((k) => { const xs = vals(v, k.k); return xs.length ? f(boot(xs), k.d) : '—'; }).join(' | ')} | ${(100 * median(vals(v, 'zero'))).toFixed(0)} % |`);
  }
  const paired = (base: string, title: string) => {
    out.push('', `### Paired against ${title}: mean difference [95 % bootstrap interval]; ✓ = better, ✗ = worse (interval excludes 0)`, '',
      `| map | n | ${KEYS.map((k) => k.label).join(' | ')} |`, `|---|---|${KEYS.map(() => '---|').join('')}`);
    for (const v of variants) {
      if (v === base) continue;
      const cells = KEYS.map((k) => {
        const xs = vals(v, k.k, base);
        if (!xs.length) return '—';
        const b = boot(xs);
        const better = k.higher ? b.lo > 0 : b.hi < 0, worse = k.higher ? b.hi < 0 : b.lo > 0;
        return `${f(b, k.d)}${better ? ' ✓' : worse ? ' ✗' : ''}`;
      });
      if (cells.some((c) => c !== '—')) out.push(`| ${v} | ${vals(v, 'EBPG', base).length} | ${cells.join(' | ')} |`);
    }
  };
  paired('sise-paper', 'sise-paper (the paper\'s fusion)');
  if (variants.includes('RISE (SISE passes)')) paired('RISE (SISE passes)', 'RISE at SISE\'s forward passes (only the images it ran on)');
  if (variants.includes('RISE 4000')) paired('RISE 4000', 'RISE at N = 4000 (only the images it ran on)');
  const text = out.join('\n') + '\n';
  writeFileSync(join(OUT, `sise-study-${modelName}.md`), text);
  console.log(text);
}

/**
 * The docs' overlay figure: the first `--grid` images' grids stacked and halved (2×2 box filter),
 * titles redrawn without parentheses (the bitmap font has none).
 */
function composeGrid(path: string): void {
  const grids = Array.from({ length: Number(args.grid) }, (_, i) => join(OUT, `grid-${modelName}-${i}.png`)).filter(existsSync)
    .map((f) => decodeImage(new Uint8Array(readFileSync(f))));
  if (!grids.length) throw new Error('no grid PNGs under bench/out: run the study first');
  const W = grids[0]!.width, Hs = grids.map((g) => g.height), H = Hs.reduce((a, b) => a + b, 0);
  const full = { width: W, height: H, data: new Uint8Array(W * H * 4) };
  let y0 = 0;
  for (const g of grids) {
    const sc = fontScale(224), titleH = GLYPH_H * sc + 6 * sc, gap = 4 * sc;
    for (let y = 0; y < titleH; y++) for (let x = 0; x < W; x++) g.data.set([255, 255, 255, 255], (y * W + x) * 4);
    const titles = ['sise-paper', 'soft', 'hard+deepest', 'block 1', 'block 2', 'block 3', 'block 4 deepest'];
    titles.forEach((t, i) => { let ts = sc; while (ts > 1 && textWidth(t, ts) > 224) ts--; drawText(g, t, i * (224 + gap) + Math.max(0, Math.floor((224 - textWidth(t, ts)) / 2)), Math.floor((titleH - GLYPH_H * ts) / 2), ts, [0, 0, 0]); });
    full.data.set(g.data, y0 * W * 4); y0 += g.height;
  }
  const w2 = Math.floor(W / 2), h2 = Math.floor(H / 2);
  const half = { width: w2, height: h2, data: new Uint8Array(w2 * h2 * 4) };
  for (let y = 0; y < h2; y++) for (let x = 0; x < w2; x++) for (let c = 0; c < 4; c++) {
    const at = (yy: number, xx: number) => full.data[(yy * W + xx) * 4 + c]!;
    // 5 bits per channel: a much smaller PNG for a figure.
    half.data[(y * w2 + x) * 4 + c] = Math.round((at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4) & (c < 3 ? 0xf8 : 0xff);
  }
  writeFileSync(path, encodePng(half));
  console.log(`wrote ${path} (${w2}×${h2})`);
}

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN; }

main().catch((e) => { console.error(e); process.exit(1); });
