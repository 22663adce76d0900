/**
 * What travels through the queue: a job is a chunk of images of one run, so a job lasts seconds to
 * minutes. Everything in a job is plain JSON; the model and images are read by path, so workers
 * need the same paths (a shared file system) as the output folder.
 */
import type { ConnectionOptions } from 'bullmq';
import { UsageError } from '../../cli-common.js';
import type { DatasetItem } from '../sources.js';
import type { ExplainConfig } from '../explain-run.js';
import type { IndexedAnnotation } from '../evaluate-run.js';
import type { EvaluateOptions } from '../../commands/evaluate.js';

export const DEFAULT_QUEUE = 'webgpu-xai';

/** Explain a chunk of images with every method of the run. */
export interface ExplainChunk { kind: 'explain'; out: string; config: ExplainConfig; items: DatasetItem[]; chunk: number; chunks: number }

/** Settings of a queued evaluate: the same as a one-machine `evaluate`. */
export interface EvaluateSpec {
  out: string; dir: string; modelPath: string;
  /** `--preset`, `--mean`, ... as typed. */
  preprocess: Record<string, string>;
  options: Pick<EvaluateOptions, 'methods' | 'step' | 'batch' | 'mu'>;
  /** Number of images in the whole run (the report's title). */
  images: number;
}

/** Evaluate a chunk of annotated images: rows to evaluation-rows.jsonl. */
export interface EvaluateChunk { kind: 'evaluate'; spec: EvaluateSpec; items: IndexedAnnotation[]; chunk: number; chunks: number }

/** The flow's parent: runs once every chunk is done (or failed for good) and writes the tables. */
export interface EvaluateMerge { kind: 'evaluate-merge'; spec: EvaluateSpec; indexes: number[] }

export type JobData = ExplainChunk | EvaluateChunk | EvaluateMerge;

/** What a chunk job returns (kept with the completed job; `queue status` reads it). */
export interface ChunkResult { worker: string; images: number; ok: number; failed: number; skipped: number; ms: number }

/**
 * redis://[user:password@]host:port[/db] (rediss:// for TLS) as BullMQ connection options. A
 * worker waits through any outage (commands are held until Redis is back); a client command
 * (`queue submit`, `status`, ...) gives up after about 10 s instead of hanging.
 */
export function connectionFrom(url: string | undefined, role: 'worker' | 'client' = 'worker'): ConnectionOptions {
  if (!url) throw new UsageError('--redis URL is required (e.g. redis://127.0.0.1:6379)');
  let u: URL;
  try { u = new URL(url); } catch { throw new UsageError(`--redis ${url} is not a URL (e.g. redis://127.0.0.1:6379)`); }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`--redis ${url}: the scheme must be redis:// or rediss://`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new UsageError(`--redis ${url}: '${u.pathname.slice(1)}' is not a database number`);
  return {
    host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, db,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    ...(role === 'worker'
      // BullMQ's workers block on Redis; commands must wait through a reconnect rather than fail.
      ? { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 2, connectTimeout: 5000, retryStrategy: (times: number) => (times > 6 ? null : 500) }),
  };
}

/** Splits `xs` into chunks of `n`. */
export function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
