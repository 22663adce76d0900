/** What a runtime under test must provide, and what the driver records. */
export interface ModelSpec {
  name: string;
  label: string;
  file: string;
  inputName: string;
  chw: [number, number, number];
  weights: 'pretrained' | 'random';
}

export interface PeerSession {
  /** One forward pass of `batch` images (NCHW floats) with upload and readback; returns output 0. */
  run(batch: number, input: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
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

export const PEER_IDS = ['ours', 'ort-web', 'tfjs', 'ort-node'] as const;
export type PeerId = (typeof PEER_IDS)[number];

export type Record_ =
  | { type: 'peer'; peer: PeerId; label: string; device?: string; initMs?: number }
  | { type: 'load'; peer: PeerId; model: string; loadMs: number; firstRunMs: number }
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
}
