/**
 * The browser page: open an ONNX classifier and a photo, see the top 5 and a saliency map, all on
 * the GPU through navigator.gpu. Written against the library's public surface only (src/index.ts)
 * plus the CLI's pure helpers for drawing and labels, so the page and the CLI draw the same overlay.
 *
 * URL parameters (for links and for the headless test): model, image, labels (URLs), method,
 * class, preset, batch, run=1 (explain as soon as model and image are in).
 */
import {
  createGpuContext, explainImage, guessPreset, loadModel, presetForInput, preprocessImage, METHODS, PRESETS,
  CancelledError, DeviceError, type Explanation, type GpuContext, type Model, type PresetName, type Preprocessing, type RgbaImage,
  type TuneReport,
} from '../src/index.js';
import { encodeNpyFloat32, overlayWithColorbar } from '../src/render.js';
import { parseLabels, toProbabilities, topK } from '../tools/scores.js';

/** What the page has done, readable from outside (window.webgpuXaiPage): the headless test reads it. */
export interface PageState {
  status: 'idle' | 'loading' | 'ready' | 'running' | 'done' | 'error';
  adapter?: string;
  model?: string;
  error?: string;
  /** The model's raw output for the current image (class scores). */
  scores?: number[];
  top5?: { index: number; label: string; probability: number }[];
  result?: {
    method: string; classIndex: number; score: number; forwardPasses: number; backwardPasses: number;
    timings: Record<string, number>; wallMs: number; map: { width: number; height: number; data: number[] };
  };
  /** Completed explanations since the page opened. */
  runs: number;
  /**
   * The kernel tuner's calls for the current model (at load, then at each new batch size), with
   * choices kept in this browser's localStorage: a second visit finds them there.
   */
  tuning: TuningSummary[];
}

/** One tuning call, as the page shows it. */
export interface TuningSummary {
  timer: TuneReport['timer']; timed: number; fromCache: number; unfinished: number; ms: number; store: string;
  geometries: { key: string; opType: string; source: string; candidates: number; timed: number; choice: string; staticChoice: string; ms: number; staticMs: number }[];
}

function summariseTuning(r: TuneReport): TuningSummary {
  return {
    timer: r.timer, timed: r.timed, fromCache: r.fromCache, unfinished: r.unfinished, ms: r.ms, store: r.store,
    geometries: r.geometries.map((g) => ({ key: g.key, opType: g.opType, source: g.source, candidates: g.candidates, timed: g.timed, choice: g.choice, staticChoice: g.staticChoice, ms: g.ms, staticMs: g.staticMs })),
  };
}

/** "12 kernel shapes tuned in 3.1 s, 4 faster than the static choice; 3 from this browser's cache". */
function tuningText(m: Model): string {
  const rs = m.tuneReports;
  if (!rs.length) return '';
  const all = rs.flatMap((r) => r.geometries);
  const timed = all.filter((g) => g.source === 'timed');
  const changed = all.filter((g) => g.choice !== g.staticChoice).length;
  const cached = all.filter((g) => g.source === 'cache').length;
  const ms = rs.reduce((s, r) => s + r.ms, 0);
  return `kernels: ${timed.length} shapes tuned in ${(ms / 1000).toFixed(1)} s, ${cached} from this browser's cache, ${changed} not the static choice`;
}

declare global { interface Window { webgpuXaiPage: PageState } }

const state: PageState = { status: 'idle', runs: 0, tuning: [] };
window.webgpuXaiPage = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  adapter: $('adapter'), modelSelect: $<HTMLSelectElement>('model-select'), modelFile: $<HTMLInputElement>('model-file'),
  imageFile: $<HTMLInputElement>('image-file'), labelsFile: $<HTMLInputElement>('labels-file'), imageInfo: $('image-info'), preset: $<HTMLSelectElement>('preset'), modelInfo: $('model-info'),
  method: $<HTMLSelectElement>('method'), classIndex: $<HTMLInputElement>('class'), batch: $<HTMLInputElement>('batch'),
  explain: $<HTMLButtonElement>('explain'), cancel: $<HTMLButtonElement>('cancel'), progress: $<HTMLProgressElement>('progress'),
  phase: $('phase'), error: $('error'), top5: $<HTMLOListElement>('top5'), summary: $('summary'),
  downloads: $('downloads'), overlay: $<HTMLCanvasElement>('overlay'), tuning: $('tuning'),
};

let gpu: GpuContext | undefined;
let model: Model | undefined;
let modelName = '';
let image: RgbaImage | undefined;
let imageName = '';
let labels: string[] | undefined;
let running: AbortController | undefined;
/** Serialises model/image changes and explanations: one GPU job at a time. */
let queue: Promise<unknown> = Promise.resolve();

function enqueue(job: () => Promise<void>): Promise<void> {
  const next = queue.then(job).catch(showError);
  queue = next;
  return next;
}

function setStatus(s: PageState['status']): void {
  state.status = s;
  ui.explain.disabled = !(model && image) || s === 'running' || s === 'loading';
  ui.cancel.disabled = s !== 'running';
}

function showError(e: unknown): void {
  const err = e as Error;
  const text = e instanceof CancelledError || err?.name === 'AbortError' ? 'Cancelled.' : `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`;
  ui.error.textContent = text;
  state.error = text;
  // A lost device cannot be reused: the next action asks for a new one.
  if (e instanceof DeviceError || gpu?.lost) { model?.destroy(); model = undefined; gpu = undefined; ui.modelInfo.textContent = 'device lost: choose the model again'; }
  setStatus('error');
}

function clearError(): void { ui.error.textContent = ''; state.error = undefined; }

async function device(): Promise<GpuContext> {
  if (gpu && !gpu.lost) return gpu;
  if (!('gpu' in navigator) || !navigator.gpu) {
    throw new DeviceError('this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled');
  }
  gpu = await createGpuContext(navigator.gpu);
  state.adapter = gpu.adapterName;
  ui.adapter.textContent = `WebGPU adapter: ${gpu.adapterName}${gpu.hasTimestamps ? ' (timestamp queries)' : ''}`;
  return gpu;
}

async function fetchBytes(url: string, what: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`could not fetch the ${what} ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function openModel(bytes: Uint8Array, name: string): Promise<void> {
  setStatus('loading');
  clearError();
  ui.phase.textContent = `loading ${name}`;
  const g = await device();
  const t0 = performance.now();
  // Load before dropping the old model: a bad file leaves the page as it was.
  const next = await loadModel(bytes, { gpu: g });
  model?.destroy();
  model = next;
  modelName = name;
  state.model = name;
  const input = model.inputs[0]!;
  ui.modelInfo.textContent = `${name}: input ${input.name} [${input.shape.join(', ')}], loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${tuningText(model)}`;
  state.tuning = model.tuneReports.map(summariseTuning);
  ui.phase.textContent = '';
  if (image) await classify();
  else setStatus('ready');
}

async function decodeImage(blob: Blob): Promise<RgbaImage> {
  let bitmap: ImageBitmap;
  try {
    // No colour management and no premultiplication: the pixels the file holds, as the CLI decodes them.
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new Error(`the file is not an image this browser can decode (${(e as Error).message})`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height);
  return { width: d.width, height: d.height, data: d.data };
}

async function openImage(blob: Blob, name: string): Promise<void> {
  clearError();
  image = await decodeImage(blob);
  imageName = name;
  ui.imageInfo.textContent = `${name}, ${image.width}x${image.height}`;
  drawPhoto(image);
  if (model) await classify();
  else setStatus('ready');
}

function preprocessing(): Preprocessing {
  const input = model!.inputs[0]!;
  const name = (ui.preset.value || guessPreset(input.name, input.shape)) as PresetName;
  return presetForInput(input, name);
}

async function classify(): Promise<void> {
  setStatus('loading');
  const p = preprocessing();
  const prepared = preprocessImage(image!, p);
  const { outputs } = await model!.run({ [model!.inputs[0]!.name]: { dtype: 'float32', shape: prepared.shape, data: prepared.tensor } });
  const scores = outputs[model!.outputs[0]!.name]!.data as Float32Array;
  const { probs } = toProbabilities(scores);
  state.scores = Array.from(scores);
  state.top5 = topK(probs, Math.min(5, probs.length)).map((k) => ({ index: k, label: labelOf(k), probability: probs[k]! }));
  ui.top5.replaceChildren(...state.top5.map((t) => {
    const li = document.createElement('li');
    li.textContent = `${(t.probability * 100).toFixed(1)}%  ${t.label}`;
    li.title = `class ${t.index}: click to explain it`;
    li.dataset.index = String(t.index);
    li.onclick = () => { ui.classIndex.value = String(t.index); void explain(); };
    return li;
  }));
  setStatus('ready');
}

/** Names only from a label file with one line per class of this model: a 10-class model gets no ImageNet names. */
function labelOf(k: number): string {
  const usable = labels && (state.scores === undefined || labels.length === state.scores.length);
  return (usable ? labels?.[k] : undefined) ?? `class ${k}`;
}

function explain(): Promise<void> {
  return enqueue(async () => {
    if (!model || !image) throw new Error('open a model and an image first');
    clearError();
    const method = ui.method.value;
    const classes = state.scores?.length ?? 0;
    const classIndex = ui.classIndex.value === '' ? undefined : Number(ui.classIndex.value);
    if (classIndex !== undefined && !(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < classes)) {
      throw new RangeError(`class ${ui.classIndex.value} is out of range: the model has ${classes} classes (0..${classes - 1})`);
    }
    const batchSize = Math.max(1, Math.floor(Number(ui.batch.value) || 16));
    running = new AbortController();
    setStatus('running');
    ui.progress.value = 0;
    const t0 = performance.now();
    let e: Explanation;
    try {
      e = await explainImage(model, image, preprocessing(), method, {
        classIndex, batchSize, signal: running.signal,
        onProgress: (p) => { ui.progress.value = p.total ? p.done / p.total : 0; ui.phase.textContent = `${p.phase} ${p.done}/${p.total}`; },
      });
    } finally {
      running = undefined;
      ui.phase.textContent = '';
    }
    const wallMs = performance.now() - t0;
    ui.progress.value = 1;
    drawOverlay(image, e);
    for (const li of Array.from(ui.top5.children)) (li as HTMLElement).classList.toggle('explained', (li as HTMLElement).dataset.index === String(e.classIndex));
    ui.summary.textContent = `${method}: class ${e.classIndex} (${labelOf(e.classIndex)}), score ${e.score.toPrecision(4)}, ` +
      `${e.forwardPasses} forward + ${e.backwardPasses} backward passes, ${(wallMs / 1000).toFixed(1)} s`;
    offerDownloads(e, method);
    state.result = {
      method, classIndex: e.classIndex, score: e.score, forwardPasses: e.forwardPasses, backwardPasses: e.backwardPasses,
      timings: e.timings, wallMs, map: { width: e.map.width, height: e.map.height, data: Array.from(e.map.data) },
    };
    state.tuning = model.tuneReports.map(summariseTuning);
    ui.tuning.textContent = tuningText(model);
    state.runs++;
    setStatus('done');
  });
}

function putImage(img: RgbaImage): void {
  ui.overlay.width = img.width;
  ui.overlay.height = img.height;
  ui.overlay.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
}

function drawPhoto(img: RgbaImage): void { putImage(img); }

function drawOverlay(img: RgbaImage, e: Explanation): void { putImage(overlayWithColorbar(img, e.original!)); }

let downloadUrls: string[] = [];
function offerDownloads(e: Explanation, method: string): void {
  for (const u of downloadUrls) URL.revokeObjectURL(u);
  downloadUrls = [];
  const stem = `${imageName.replace(/\.[^.]*$/, '') || 'image'}.${method}`;
  const link = (blob: Blob, file: string, text: string) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    downloadUrls.push(a.href);
    a.download = file;
    a.textContent = text;
    return a;
  };
  const npy = encodeNpyFloat32(e.map.data, [e.map.height, e.map.width]);
  const json = JSON.stringify({ method, model: modelName, image: imageName, adapter: gpu?.adapterName, class: e.classIndex, label: labelOf(e.classIndex), score: e.score, scoreMode: e.scoreMode, forwardPasses: e.forwardPasses, backwardPasses: e.backwardPasses, timingsMs: e.timings, params: e.params }, null, 2);
  ui.downloads.replaceChildren(
    link(new Blob([npy as BlobPart]), `${stem}.npy`, 'map (.npy)'),
    link(new Blob([json], { type: 'application/json' }), `${stem}.json`, 'summary (.json)'),
  );
  ui.overlay.toBlob((b) => { if (b) ui.downloads.prepend(link(b, `${stem}.png`, 'overlay (.png)')); });
}

interface Defaults { models?: { name: string; url: string }[]; image?: string; labels?: string }

async function start(): Promise<void> {
  for (const m of Object.keys(METHODS)) ui.method.add(new Option(m, m));
  for (const p of Object.keys(PRESETS)) ui.preset.add(new Option(p, p));
  const q = new URLSearchParams(location.search);
  ui.method.value = q.get('method') ?? 'sise';
  if (q.has('class')) ui.classIndex.value = q.get('class')!;
  if (q.has('preset')) ui.preset.value = q.get('preset')!;
  if (q.has('batch')) ui.batch.value = q.get('batch')!;

  // The development server (tools/web-server.ts) offers the shared models and a default image;
  // a static copy of the page elsewhere simply has none.
  let defaults: Defaults = {};
  try {
    const r = await fetch('./defaults.json');
    if (r.ok) defaults = await r.json() as Defaults;
  } catch { /* no defaults */ }
  for (const m of defaults.models ?? []) ui.modelSelect.add(new Option(m.name, m.url));

  ui.modelSelect.onchange = () => {
    const url = ui.modelSelect.value;
    if (url) void enqueue(async () => openModel(await fetchBytes(url, 'model'), ui.modelSelect.selectedOptions[0]!.text));
  };
  ui.modelFile.onchange = () => {
    const f = ui.modelFile.files?.[0];
    if (f) void enqueue(async () => openModel(new Uint8Array(await f.arrayBuffer()), f.name));
  };
  ui.imageFile.onchange = () => {
    const f = ui.imageFile.files?.[0];
    if (f) void enqueue(() => openImage(f, f.name));
  };
  ui.labelsFile.onchange = () => {
    const f = ui.labelsFile.files?.[0];
    if (f) void enqueue(async () => { labels = parseLabels(await f.text()); if (model && image) await classify(); });
  };
  ui.preset.onchange = () => { if (model && image) void enqueue(classify); };
  ui.explain.onclick = () => { void explain(); };
  ui.cancel.onclick = () => running?.abort();

  const labelsUrl = q.get('labels') ?? defaults.labels;
  const modelUrl = q.get('model') ?? defaults.models?.[0]?.url;
  const imageUrl = q.get('image') ?? defaults.image;
  await enqueue(async () => {
    if (labelsUrl) labels = parseLabels(new TextDecoder().decode(await fetchBytes(labelsUrl, 'label file')));
    if (imageUrl) await openImage(new Blob([await fetchBytes(imageUrl, 'image') as BlobPart]), imageUrl.split('/').pop()!);
    if (modelUrl) {
      const known = Array.from(ui.modelSelect.options).find((o) => o.value === modelUrl);
      if (known) ui.modelSelect.value = modelUrl;
      await openModel(await fetchBytes(modelUrl, 'model'), known?.text ?? modelUrl.split('/').pop()!);
    }
  });
  if (q.get('run') === '1' && model && image) await explain();
}

void start();
