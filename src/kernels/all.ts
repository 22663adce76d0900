/** Every kernel family the engine ships, in one registry. */
import { OpRegistry } from './registry.js';
import type { OpDef } from './types.js';
import { shapeOps } from './shape-ops.js';

export const ALL_OPS: readonly OpDef[] = [...shapeOps];

export const defaultRegistry = new OpRegistry(ALL_OPS);
