/** What a runtime under test must provide, and what the driver records. */
export interface ModelSpec {
  name: string;
  label: string;
  file: string;
  inputName: string;
  chw: [number, number, number];
  weights: 'pretrained' | 'random';
}

/** One tuning call of the tuned engine, as the bench records it (from the tuner's TuneReport). */
export interface TuneInfo {
  /** Wall time of the tuning call, ms. */
  ms: number;
  budgetMs: number;
  timer: string;
  /** Distinct tunable geometries of the graph at this batch, and what happened to them. */
  geometries: number;
  timed: number;
  fromCache: number;
  unfinished: number;
  /** Geometries with a single candidate (nothing to time). */
  single: number;
  /** Candidates that failed to build or run or disagreed with the static choice. */
  rejected: number;
  /** Geometries whose choice differs from the static chooser's. */
  changed: number;
  /** Nodes (after fusion) covered by the geometries. */
  nodes: number;
  /**
   * Over the geometries where both were timed, weighted by nodes: the static choice's GPU ms and
   * the choice's GPU ms per forward pass as the tuner timed each layer alone, and their ratio
   * (tuneSummary's "tuned layers Nx the static choice's GPU time").
   */
  staticLayerMs: number;
  tunedLayerMs: number;
  speedup: number;
  /** tuneSummary's line, for the JSON. */
  summary: string;
  /** Per geometry, for finding out why a cell moved (JSON only). */
  detail: { key: string; op: string; nodes: number; source: string; staticChoice: string; choice: string; staticMs: number; ms: number; candidates: number; timed: number; rejected: string[] }[];
}

export interface PeerSession {
  /** One forward pass of `batch` images (NCHW floats) with upload and readback; returns output 0. */
  run(batch: number, input: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
  /** The tuning the load itself did (batch 1), when the peer tunes. */
  loadTune?: TuneInfo;
  /** Tunes for `batch` before its first run (peers that tune); undefined when `batch` was tuned already. */
  tune?(batch: number): Promise<TuneInfo | undefined>;
  /**
   * The tuned peer only: `pairs` runs of this session's model and of the same model with the static
   * chooser, loaded on the same device in this process, interleaved (the order alternating per
   * pair), so both see the same machine state: ms per run of each.
   */
  interleavedStatic?(batch: number, input: Float32Array, pairs: number): Promise<{ tunedMs: number[]; staticMs: number[] }>;
}

export interface Peer {
  id: PeerId;
  /** Human-readable name with the settings that matter (threads, backend). */
  label: string;
  /** The adapter (or CPU) it ran on. */
  device?: string;
  /** One-time runtime initialisation before any model (process-wide), when it is significant. */
  initMs?: number;
  load(model: ModelSpec, bytes: Uint8Array): Promise<PeerSession>;
  close(): Promise<void>;
}

/** 'ours': webgpu-xai with the kernel tuner (cold cache); 'ours-static': the static chooser only. */
export const PEER_IDS = ['ours', 'ours-static', 'ort-web', 'tfjs', 'ort-node'] as const;
export type PeerId = (typeof PEER_IDS)[number];

export type Record_ =
  | { type: 'peer'; peer: PeerId; label: string; device?: string; initMs?: number; tuningStore?: string }
  /** loadMs includes tuneMs (tuning inside the load) where the peer tunes. */
  | { type: 'load'; peer: PeerId; model: string; loadMs: number; firstRunMs: number; tuneMs?: number }
  | { type: 'tune'; peer: PeerId; model: string; batch: number; atLoad: boolean; info: TuneInfo }
  /** Tuned and static engine in one process, runs interleaved (PeerSession.interleavedStatic). */
  | { type: 'interleaved'; peer: PeerId; model: string; batch: number; tunedMedianMs: number; staticMedianMs: number; pairs: number }
  | { type: 'cell'; peer: PeerId; model: string; batch: number; status: 'ok'; medianMs: number; minMs: number; imagesPerSec: number; reps: number; warmupMs: number; times: number[] }
  | { type: 'cell'; peer: PeerId; model: string; batch: number; status: 'failed' | 'skipped'; reason: string }
  | { type: 'failed'; peer: PeerId; model?: string; reason: string }
  | { type: 'output'; peer: PeerId; model: string; data: number[] }
  | { type: 'ceiling'; peer: PeerId; M: number; N: number; K: number; variant: string; ms: number; gflops: number }
  | { type: 'flops'; peer: PeerId; model: string; flopsPerImage: number; convs: number; gemms: number };

export interface BenchSettings {
  batches: number[];
  reps: number;
  /** Stop repeating a cell after this many seconds (at least one timed run). */
  cellSeconds: number;
  /** Skip a cell whose warm-up plus one run is estimated above this many seconds. */
  maxRunSeconds: number;
  /** Run the matmul ceiling (ours only). */
  ceiling: boolean;
  /** The tuned engine's budget per model and batch, ms (each tuning call's `budgetMs`). */
  tuneBudgetMs: number;
}
