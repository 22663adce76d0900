/**
 * A queue worker: one per GPU, one job at a time, the model loaded once and kept while jobs of the
 * same run keep coming. Jobs are chunks (jobs.ts); each image's results and index row are written
 * as it finishes, so a job retried after a crash or a lost lock redoes only what has no row.
 *
 * Locks: BullMQ renews a job's lock every lockDuration / 2 from this event loop. GPU work here
 * awaits the device between passes, so the loop runs; what blocks it longest is compiling kernels
 * on a new model or batch (seconds on a software adapter), hence a default lock of two minutes.
 */
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { openModel, preprocessingFromArgs, UsageError } from '../../cli-common.js';
import { DeviceError, XaiError } from '../../../src/runtime/errors.js';
import type { Model } from '../../../src/runtime/model.js';
import type { GpuContext } from '../../../src/runtime/device.js';
import type { Preprocessing } from '../../../src/xai/preprocess.js';
import { FolderStore } from '../store.js';
import { IndexFollower } from '../run-index.js';
import { DeviceLostError, explainItems, openExplainContext, type ExplainContext } from '../explain-run.js';
import { collectRows, EVAL_ROWS, evaluateItems, type StoredEvalRow } from '../evaluate-run.js';
import { evaluationReport } from '../../commands/evaluate.js';
import { writeFilesAtomically } from '../atomic-write.js';
import { join, basename } from 'node:path';
import type { ChunkResult, EvaluateChunk, EvaluateMerge, ExplainChunk, JobData } from './jobs.js';
import type { ConnectionOptions } from 'bullmq';

export interface WorkerOptions {
  connection: ConnectionOptions;
  queue: string;
  /** Worker id in rows and status (default host:pid). */
  id?: string;
  /** Job lock, ms (renewed at half of it). */
  lockMs: number;
  /** How often workers look for jobs whose lock expired (their worker died), ms. */
  stalledMs: number;
  /** Exit after this many ms with nothing waiting, active or delayed; 0 runs until stopped. */
  exitWhenIdleMs: number;
  log?: (line: string) => void;
  /** Run on this device instead of opening one (a process embedding a worker); it is not destroyed by the worker. */
  gpu?: GpuContext;
}

/** A model kept between jobs while they name the same model file (and explain settings). */
interface Loaded { key: string; close(): void; explain?: ExplainContext; evaluate?: { model: Model; gpu: GpuContext; p: Preprocessing } }

/** A model or settings problem fails the job at once: retrying cannot help (a lost device can, elsewhere). */
function unrecoverable(e: unknown): never {
  if (e instanceof UsageError || (e instanceof XaiError && !(e instanceof DeviceError))) throw new UnrecoverableError(`${(e as Error).name}: ${(e as Error).message}`);
  throw e;
}

function lastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * Runs a worker until stopped (SIGINT/SIGTERM finish the current job first) or idle long enough.
 * When its device is lost it fails the job (which BullMQ retries, on another worker) and throws
 * the DeviceLostError after closing.
 */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const id = o.id ?? `${hostname()}:${process.pid}`;
  const log = o.log ?? ((l: string) => console.log(`[${new Date().toISOString()}] ${id} ${l}`));
  let loaded: Loaded | undefined;
  let fatal: Error | undefined;
  const followers = new Map<string, IndexFollower>();
  const unload = () => { loaded?.close(); loaded = undefined; };

  async function explainJob(job: Job<ExplainChunk>): Promise<ChunkResult> {
    const d = job.data;
    const key = `explain ${JSON.stringify(d.config)}`;
    if (loaded?.key !== key) {
      unload();
      const ctx = await openExplainContext(d.config, o.gpu).catch(unrecoverable);
      loaded = { key, explain: ctx, close: () => ctx.close() };
      log(`loaded ${basename(d.config.modelPath)} on ${ctx.gpu.adapterName} in ${ctx.loadMs.toFixed(0)} ms`);
    }
    const t0 = performance.now();
    let units = 0;
    const total = d.items.length * d.config.methods.length;
    const store = new FolderStore(d.out);
    // One follower per output folder for the worker's life: each image reads only the rows appended since.
    const follower = followers.get(store.location) ?? new IndexFollower(store);
    followers.set(store.location, follower);
    const r = await explainItems(loaded.explain!, d.items, store, {
      worker: id, complete: new Set(), isComplete: (image, method) => follower.isComplete(image, method), recordFailures: lastAttempt(job), onUnit: () => { void job.updateProgress(Math.round((100 * ++units) / total)); },
    });
    if (r.failed) throw new Error(`${r.failed} of ${total - r.skipped} results failed: ${r.failures.map((f) => `${f.image} ${f.method}: ${f.error}`).join('; ')}`);
    return { worker: id, images: d.items.length, ok: r.ok, failed: r.failed, skipped: r.skipped, ms: performance.now() - t0 };
  }

  async function evaluateJob(job: Job<EvaluateChunk>): Promise<ChunkResult> {
    const { spec, items } = job.data;
    const key = `evaluate ${spec.modelPath} ${JSON.stringify(spec.preprocess)}`;
    if (loaded?.key !== key) {
      unload();
      const { model, gpu, loadMs } = await openModel(spec.modelPath, o.gpu).catch(unrecoverable);
      const close = () => { model.destroy(); if (!o.gpu) gpu.destroy(); };
      try {
        const { p } = (() => { try { return preprocessingFromArgs(model, spec.preprocess); } catch (e) { return unrecoverable(e); } })();
        loaded = { key, evaluate: { model, gpu, p }, close };
      } catch (e) { close(); throw e; }
      log(`loaded ${basename(spec.modelPath)} on ${gpu.adapterName} in ${loadMs.toFixed(0)} ms`);
    }
    const { model, gpu, p } = loaded.evaluate!;
    const t0 = performance.now();
    const r = await evaluateItems(model, spec.dir, items, p, { ...spec.options }, new FolderStore(spec.out), gpu.adapterName, { recordFailures: lastAttempt(job), deviceLost: () => gpu.lost });
    if (r.failed.length) throw new Error(`${r.failed.length} of ${items.length} images failed: ${r.failed.map((f) => `${f.file}: ${f.error}`).join('; ')}`);
    return { worker: id, images: items.length, ok: r.evaluated, failed: 0, skipped: items.length - r.evaluated, ms: performance.now() - t0 };
  }

  function mergeJob(job: Job<EvaluateMerge>): { worker: string; images: number; failed: number } {
    const { spec, indexes } = job.data;
    const store = new FolderStore(spec.out);
    const stored = store.read<StoredEvalRow>(EVAL_ROWS);
    const allMethods = [...spec.options.methods, 'center', 'random'];
    const { rows, failed } = collectRows(stored, allMethods, new Set(indexes));
    const adapters = [...new Set(stored.map((r) => r.adapter))];
    const { md, csvText } = evaluationReport(rows, allMethods, { model: basename(spec.modelPath), images: spec.images, dir: spec.dir, adapter: adapters.join(' + '), step: spec.options.step, failed: [...failed.values()] });
    writeFilesAtomically([{ path: join(store.location, 'evaluation.md'), bytes: md }, { path: join(store.location, 'evaluation.csv'), bytes: csvText }]);
    log(`merged ${rows.length / allMethods.length} images' rows into ${join(store.location, 'evaluation.md')}${failed.size ? ` (${failed.size} failed)` : ''}`);
    return { worker: id, images: rows.length / allMethods.length, failed: failed.size };
  }

  // The lock is renewed from this event loop: measure how long the job's work blocks it.
  const loop = monitorEventLoopDelay({ resolution: 20 });
  const worker = new Worker<JobData>(o.queue, async (job) => {
    const d = job.data;
    log(`job ${job.id} ${job.name}${'chunk' in d ? ` ${d.chunk + 1}/${d.chunks}` : ''} attempt ${job.attemptsMade + 1}/${job.opts.attempts ?? 1}`);
    loop.reset();
    loop.enable();
    try {
      if (d.kind === 'explain') return await explainJob(job as Job<ExplainChunk>);
      if (d.kind === 'evaluate') return await evaluateJob(job as Job<EvaluateChunk>);
      return mergeJob(job as Job<EvaluateMerge>);
    } catch (e) {
      if (e instanceof DeviceLostError) { fatal = e; unload(); }
      throw e;
    } finally {
      loop.disable();
      const maxMs = loop.max / 1e6;
      if (maxMs > o.lockMs / 4) log(`warning: the event loop was blocked for up to ${maxMs.toFixed(0)} ms during job ${job.id}; the lock (${o.lockMs} ms, renewed every ${o.lockMs / 2} ms) may lapse: raise --lock-ms`);
    }
  }, {
    connection: o.connection, concurrency: 1, lockDuration: o.lockMs, stalledInterval: o.stalledMs,
    // A job whose worker died is taken up again; two such deaths in a row fail it (it may be what kills them).
    maxStalledCount: 2, name: id, autorun: false,
  });

  let idleTimer: NodeJS.Timeout | undefined;
  let closeExtra: () => Promise<void> = async () => {};
  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    stopping ??= (async () => {
      log(`stopping: ${why}`);
      clearInterval(idleTimer);
      await worker.close();
      await closeExtra();
      unload();
    })();
    return stopping;
  };
  worker.on('completed', (job) => log(`job ${job.id} done`));
  worker.on('failed', (job, err) => {
    log(`job ${job?.id} failed: ${err.message}`);
    if (fatal) void stop('device lost');
  });
  // BullMQ repeats a failing renewal or reconnection every few hundred ms: log each message once a minute.
  const lastSaid = new Map<string, number>();
  worker.on('error', (err) => {
    const now = Date.now();
    if (now - (lastSaid.get(err.message) ?? 0) < 60_000) return;
    lastSaid.set(err.message, now);
    log(`redis: ${err.message}`);
  });
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const s of signals) process.once(s, () => { void stop(s); });

  if (o.exitWhenIdleMs > 0) {
    // Idle means nothing left anywhere in the queue: a stalled job of a dead worker still counts as active.
    const q = new Queue(o.queue, { connection: o.connection });
    let idleSince = Date.now();
    idleTimer = setInterval(() => {
      void q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused').then((c) => {
        if (Object.values(c).some((n) => n > 0)) idleSince = Date.now();
        else if (Date.now() - idleSince >= o.exitWhenIdleMs) void stop('queue idle');
      }, () => { idleSince = Date.now(); });
    }, Math.min(1000, o.exitWhenIdleMs));
    closeExtra = () => q.close();
  }

  log(`waiting for jobs on queue '${o.queue}'`);
  const running = worker.run();
  await running.catch((e: unknown) => { if (!fatal) throw e; });
  await stopping;
  if (fatal) throw fatal;
}
