/**
 * The queue's client side: submitting a run as chunk jobs (an evaluate as a BullMQ flow whose
 * parent merges the rows), the state of a run per worker, and retrying failed chunks.
 */
import { FlowProducer, Queue, type ConnectionOptions } from 'bullmq';
import { FolderStore, checkRunSettings } from '../store.js';
import { completedKeys, resultKeys } from '../run-index.js';
import { collectRows, EVAL_ROWS, type IndexedAnnotation, type StoredEvalRow } from '../evaluate-run.js';
import type { DatasetItem } from '../sources.js';
import type { ExplainConfig } from '../explain-run.js';
import { chunks, type ChunkResult, type EvaluateChunk, type EvaluateMerge, type EvaluateSpec, type ExplainChunk, type JobData } from './jobs.js';
import { resolve } from 'node:path';

/** Retries and backoff of every chunk job. */
export interface RetryPolicy { attempts: number; backoffMs: number }

function jobOpts(r: RetryPolicy) {
  return { attempts: r.attempts, backoff: { type: 'exponential', delay: r.backoffMs }, removeOnComplete: false, removeOnFail: false } as const;
}

/** Enqueues the images of an explain run that are not complete in `out` yet, `chunk` per job. Returns the job count and images skipped. */
export async function submitExplain(connection: ConnectionOptions, queue: string, out: string, config: ExplainConfig, items: readonly DatasetItem[], chunk: number, retry: RetryPolicy):
  Promise<{ jobs: number; images: number; alreadyComplete: number }> {
  const store = new FolderStore(out);
  const { methods: _m, ...settings } = config;
  // The same record as the one-machine run, so either can resume the other.
  checkRunSettings(store, 'run.json', { ...settings, modelPath: resolve(config.modelPath) });
  const complete = completedKeys(store);
  const todo = items.filter((it) => config.methods.some((m) => !(complete.has(`${it.id}\0${m}`) && store.has(resultKeys(it.id, m).json))));
  const parts = chunks(todo, chunk);
  const q = new Queue<JobData>(queue, { connection });
  try {
    await q.addBulk(parts.map((c, i) => ({ name: 'explain-chunk', data: { kind: 'explain', out: store.location, config, items: c, chunk: i, chunks: parts.length } satisfies ExplainChunk, opts: jobOpts(retry) })));
  } finally { await q.close(); }
  return { jobs: parts.length, images: todo.length, alreadyComplete: items.length - todo.length };
}

/** Enqueues an evaluate as one flow: chunk jobs, and a parent that merges their rows into evaluation.md/csv once they are all done or failed for good. */
export async function submitEvaluate(connection: ConnectionOptions, queue: string, spec: EvaluateSpec, settings: Record<string, unknown>, items: readonly IndexedAnnotation[], chunk: number, retry: RetryPolicy):
  Promise<{ jobs: number; images: number; alreadyComplete: number; parent: string | undefined }> {
  const store = new FolderStore(spec.out);
  checkRunSettings(store, 'evaluation-run.json', settings);
  const allMethods = [...spec.options.methods, 'center', 'random'];
  const { done } = collectRows(store.read<StoredEvalRow>(EVAL_ROWS), allMethods);
  const todo = items.filter((it) => !done.has(it.index));
  const parts = chunks(todo, chunk);
  const flow = new FlowProducer({ connection });
  try {
    const tree = await flow.add({
      name: 'evaluate-merge', queueName: queue, data: { kind: 'evaluate-merge', spec, indexes: items.map((i) => i.index) } satisfies EvaluateMerge,
      opts: jobOpts(retry),
      children: parts.map((c, i) => ({
        name: 'evaluate-chunk', queueName: queue, data: { kind: 'evaluate', spec, items: c, chunk: i, chunks: parts.length } satisfies EvaluateChunk,
        // A chunk that fails for good is reported in the tables' failed list instead of holding the merge back.
        opts: { ...jobOpts(retry), ignoreDependencyOnFailure: true },
      })),
    });
    return { jobs: parts.length, images: todo.length, alreadyComplete: items.length - todo.length, parent: tree.job.id };
  } finally { await flow.close(); }
}

/** Per worker: chunks and images done, images per second while working, and the job it is on. */
export interface WorkerStatus { worker: string; jobs: number; images: number; busyMs: number; rate: number; current?: { job: string; progress: number; etaS: number } }

export interface QueueStatus {
  counts: Record<'completed' | 'failed' | 'waiting' | 'active' | 'delayed' | 'waiting-children', number>;
  imagesDone: number; imagesLeft: number;
  /** Images per second of all workers together (sum of their rates) and the time left at that rate. */
  rate: number; etaS: number;
  workers: WorkerStatus[];
  failed: { job: string; name: string; attempts: number; reason: string }[];
}

function imagesOf(d: JobData): number { return d.kind === 'evaluate-merge' ? 0 : d.items.length; }

/** Reads the queue's jobs and what the completed ones returned. */
export async function queueStatus(connection: ConnectionOptions, queue: string): Promise<QueueStatus> {
  const q = new Queue<JobData, ChunkResult>(queue, { connection });
  try {
    const raw = await q.getJobCounts('completed', 'failed', 'waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'paused');
    const counts = { completed: raw.completed ?? 0, failed: raw.failed ?? 0, waiting: (raw.waiting ?? 0) + (raw.prioritized ?? 0) + (raw.paused ?? 0), active: raw.active ?? 0, delayed: raw.delayed ?? 0, 'waiting-children': raw['waiting-children'] ?? 0 };
    const done = await q.getJobs(['completed'], 0, -1);
    const open = await q.getJobs(['waiting', 'prioritized', 'paused', 'active', 'delayed'], 0, -1);
    const active = await q.getJobs(['active'], 0, -1);
    const failedJobs = await q.getJobs(['failed'], 0, -1);
    const per = new Map<string, WorkerStatus>();
    for (const j of done) {
      const r = j.returnvalue as ChunkResult | undefined;
      if (!r || j.data.kind === 'evaluate-merge') continue;
      const w = per.get(r.worker) ?? { worker: r.worker, jobs: 0, images: 0, busyMs: 0, rate: 0 };
      w.jobs++; w.images += r.images; w.busyMs += r.ms;
      per.set(r.worker, w);
    }
    for (const w of per.values()) w.rate = w.busyMs > 0 ? (1000 * w.images) / w.busyMs : 0;
    for (const j of active) {
      const name = j.processedBy ?? '?';
      const w = per.get(name) ?? { worker: name, jobs: 0, images: 0, busyMs: 0, rate: 0 };
      per.set(name, w);
      const progress = typeof j.progress === 'number' ? j.progress : 0;
      const left = imagesOf(j.data) * (1 - progress / 100);
      w.current = { job: String(j.id), progress, etaS: w.rate > 0 ? left / w.rate : NaN };
    }
    const rate = [...per.values()].reduce((a, w) => a + w.rate, 0);
    const imagesLeft = open.reduce((a, j) => a + imagesOf(j.data), 0);
    return {
      counts, imagesDone: [...per.values()].reduce((a, w) => a + w.images, 0), imagesLeft, rate, etaS: rate > 0 ? imagesLeft / rate : NaN,
      workers: [...per.values()].sort((a, b) => (a.worker < b.worker ? -1 : 1)),
      failed: failedJobs.map((j) => ({ job: String(j.id), name: j.name, attempts: j.attemptsMade, reason: j.failedReason })),
    };
  } finally { await q.close(); }
}

/** Moves every failed job back to waiting (its attempts start again); returns how many. */
export async function retryFailed(connection: ConnectionOptions, queue: string): Promise<number> {
  const q = new Queue(queue, { connection });
  try {
    const failed = await q.getJobs(['failed'], 0, -1);
    for (const j of failed) await j.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return failed.length;
  } finally { await q.close(); }
}
