/**
 * A small generational genetic algorithm over fixed-length bit vectors (E-LIME, methods spec 5.2
 * step 5). Pure host code with a seeded RNG: the only expensive part, fitness, is a callback that
 * receives every not-yet-seen individual of a generation at once, so a GPU caller can evaluate the
 * whole generation in one batched pass. Fitness is cached by bit string because selection and
 * elitism make duplicates common.
 */

/** A seeded uniform RNG (mulberry32): tiny state, identical sequences on every JS engine. */
export class SeededRng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) ^ 0x6a09e667; }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
}

/** GA settings; {@link evolve} validates nothing, callers resolve and check them first. */
export interface GeneticSettings {
  /** Individuals per generation. */
  populationSize: number;
  /** Offspring generations after the random initial one (the initial one is generation 0). */
  maxGenerations: number;
  /** Stop when the best fitness has not improved for this many generations. */
  patience: number;
  /** Individuals drawn (with replacement) per tournament; the fittest wins. */
  tournamentSize: number;
  crossover: 'uniform' | 'one-point';
  /** Probability that a pair of parents is recombined (else copied). */
  crossoverRate: number;
  /** Per-bit flip probability. */
  mutationRate: number;
  /** The best individuals copied unchanged into the next generation. */
  elitism: number;
  /** Probability of a 1 in the random initial population. */
  initProbability: number;
  seed: number;
}

/**
 * Fitness of a list of distinct, uncached individuals, in order. Called once per generation (the
 * caller may split it into batches); throwing aborts the run (cancellation).
 */
export type BatchFitness = (individuals: readonly Uint8Array[]) => Promise<ArrayLike<number>>;

/** Per-generation statistics of the population's fitness. */
export interface GenerationStats { best: number; mean: number; evaluated: number }

export interface GeneticResult {
  /** The final population and its fitness, in the same order. */
  population: Uint8Array[];
  fitness: Float64Array;
  best: Uint8Array;
  bestFitness: number;
  /** Generations run after the initial one (≤ maxGenerations; fewer when stopped early). */
  generations: number;
  stoppedEarly: boolean;
  /** Individuals sent to the fitness callback (cache misses). */
  evaluations: number;
  /** Individuals whose fitness came from the cache (duplicates within and across generations, elites). */
  cacheHits: number;
  /** Generation 0 (initial) first. */
  history: GenerationStats[];
  /** Every fitness ever computed, keyed by {@link bitKey}. */
  cache: Map<string, number>;
  /** Wall time spent inside the fitness callback, ms (the rest of the run is host GA work). */
  fitnessMs: number;
}

/** The cache key of an individual: its bits as a '0'/'1' string. */
export function bitKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i] ? '1' : '0';
  return s;
}

/** Index of the fittest of `size` individuals drawn uniformly with replacement (first wins ties). */
export function tournament(fitness: ArrayLike<number>, size: number, rng: SeededRng): number {
  let best = rng.int(fitness.length);
  for (let k = 1; k < size; k++) {
    const j = rng.int(fitness.length);
    if (fitness[j]! > fitness[best]!) best = j;
  }
  return best;
}

/** Uniform crossover: each bit position swaps between the two children with probability 1/2. */
export function uniformCrossover(a: Uint8Array, b: Uint8Array, rng: SeededRng): [Uint8Array, Uint8Array] {
  const c = Uint8Array.from(a), d = Uint8Array.from(b);
  for (let i = 0; i < a.length; i++) if (rng.next() < 0.5) { c[i] = b[i]!; d[i] = a[i]!; }
  return [c, d];
}

/** One-point crossover: the tails after a cut in 1..K−1 are swapped (no-op for K = 1). */
export function onePointCrossover(a: Uint8Array, b: Uint8Array, rng: SeededRng): [Uint8Array, Uint8Array] {
  const c = Uint8Array.from(a), d = Uint8Array.from(b);
  if (a.length < 2) return [c, d];
  const cut = 1 + rng.int(a.length - 1);
  for (let i = cut; i < a.length; i++) { c[i] = b[i]!; d[i] = a[i]!; }
  return [c, d];
}

/** Flips each bit with probability `rate`, in place. */
export function mutate(b: Uint8Array, rate: number, rng: SeededRng): void {
  for (let i = 0; i < b.length; i++) if (rng.next() < rate) b[i] = b[i] ? 0 : 1;
}

/** Indices sorted by fitness, best first; ties keep population order so runs are deterministic. */
function ranking(fitness: ArrayLike<number>): number[] {
  return Array.from({ length: fitness.length }, (_, i) => i).sort((i, j) => fitness[j]! - fitness[i]! || i - j);
}

/**
 * Runs the GA on bit vectors of length `bits`, maximising `fitness`. Every generation's unseen
 * individuals (deduplicated) go to one `fitness` call; `onGeneration` sees each generation's stats.
 */
export async function evolve(bits: number, fitness: BatchFitness, g: GeneticSettings,
  onGeneration?: (generation: number, stats: GenerationStats) => void): Promise<GeneticResult> {
  const rng = new SeededRng(g.seed);
  const cache = new Map<string, number>();
  let evaluations = 0, cacheHits = 0, fitnessMs = 0;

  const evaluate = async (pop: Uint8Array[]): Promise<{ fit: Float64Array; evaluated: number }> => {
    const keys = pop.map(bitKey);
    const todo: Uint8Array[] = [];
    const todoKeys = new Set<string>();
    keys.forEach((k, i) => {
      if (cache.has(k) || todoKeys.has(k)) { cacheHits++; return; }
      todoKeys.add(k);
      todo.push(pop[i]!);
    });
    if (todo.length) {
      const t0 = performance.now();
      const f = await fitness(todo);
      fitnessMs += performance.now() - t0;
      if (f.length !== todo.length) throw new Error(`fitness returned ${f.length} values for ${todo.length} individuals`);
      [...todoKeys].forEach((k, i) => cache.set(k, f[i]!));
      evaluations += todo.length;
    }
    return { fit: Float64Array.from(keys, (k) => cache.get(k)!), evaluated: todo.length };
  };
  const stats = (fit: Float64Array, evaluated: number): GenerationStats => {
    let best = -Infinity, sum = 0;
    for (const v of fit) { best = Math.max(best, v); sum += v; }
    return { best, mean: sum / fit.length, evaluated };
  };

  let pop: Uint8Array[] = Array.from({ length: g.populationSize }, () => Uint8Array.from({ length: bits }, () => (rng.next() < g.initProbability ? 1 : 0)));
  let { fit, evaluated } = await evaluate(pop);
  const history = [stats(fit, evaluated)];
  onGeneration?.(0, history[0]!);
  let bestEver = history[0]!.best, stall = 0, gen = 0, stoppedEarly = false;
  const elite = Math.min(g.elitism, g.populationSize);

  while (gen < g.maxGenerations) {
    if (stall >= g.patience) { stoppedEarly = true; break; }
    const next: Uint8Array[] = ranking(fit).slice(0, elite).map((i) => Uint8Array.from(pop[i]!));
    while (next.length < g.populationSize) {
      const a = pop[tournament(fit, g.tournamentSize, rng)]!, b = pop[tournament(fit, g.tournamentSize, rng)]!;
      const [c, d] = rng.next() < g.crossoverRate
        ? (g.crossover === 'uniform' ? uniformCrossover(a, b, rng) : onePointCrossover(a, b, rng))
        : [Uint8Array.from(a), Uint8Array.from(b)];
      mutate(c, g.mutationRate, rng);
      next.push(c);
      if (next.length < g.populationSize) { mutate(d, g.mutationRate, rng); next.push(d); }
    }
    pop = next;
    ({ fit, evaluated } = await evaluate(pop));
    gen++;
    const st = stats(fit, evaluated);
    history.push(st);
    onGeneration?.(gen, st);
    if (st.best > bestEver) { bestEver = st.best; stall = 0; } else stall++;
  }

  const top = ranking(fit)[0]!;
  return { population: pop, fitness: fit, best: pop[top]!, bestFitness: fit[top]!, generations: gen, stoppedEarly, evaluations, cacheHits, history, cache, fitnessMs };
}
