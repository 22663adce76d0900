/**
 * Turning a classifier's output into what people read: probabilities, the top k, class names.
 * No Node or DOM imports: the CLI and the web page share it.
 */

/** Probabilities from a score vector: kept as they are when they already form a distribution. */
export function toProbabilities(scores: Float32Array): { probs: Float32Array; alreadyProbabilities: boolean } {
  let sum = 0, min = Infinity;
  for (const v of scores) { sum += v; min = Math.min(min, v); }
  if (min >= 0 && Math.abs(sum - 1) < 1e-3) return { probs: scores, alreadyProbabilities: true };
  const m = Math.max(...scores);
  const e = scores.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return { probs: e.map((v) => v / z), alreadyProbabilities: false };
}

/** Indices of the k largest values, largest first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[b]! - values[a]!).slice(0, k);
}

/**
 * Class names from a label file: lines of "synset name, other names" (the ../shared/labels format)
 * or plain names; the first name of each line is kept.
 */
export function parseLabels(text: string): string[] {
  return text.split('\n').filter((l) => l.trim()).map((l) => l.replace(/^n\d{8}\s+/, '').split(',')[0]!.trim());
}
