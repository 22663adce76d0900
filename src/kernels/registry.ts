/** Op type to kernel definition. The runtime looks ops up here and nowhere else. */
import type { GraphNode } from '../runtime/graph.js';
import type { OpDef } from './types.js';
import { UnsupportedOperatorError } from '../runtime/errors.js';

function describe(n: GraphNode): { opType: string; name: string; domain: string; opset?: number } {
  const v = n.attrs['_opset'];
  return { opType: n.opType, name: n.name, domain: n.domain, ...(typeof v === 'number' ? { opset: v } : {}) };
}

export class OpRegistry {
  private readonly byKey = new Map<string, OpDef>();
  constructor(defs: readonly OpDef[]) {
    for (const d of defs) for (const t of d.opTypes) this.byKey.set(`${d.domain ?? ''}:${t}`, d);
  }
  find(node: Pick<GraphNode, 'opType' | 'domain'>): OpDef | undefined {
    const domain = node.domain === 'ai.onnx' ? '' : node.domain;
    return this.byKey.get(`${domain}:${node.opType}`);
  }
  lookup(node: GraphNode): OpDef {
    const d = this.find(node);
    if (!d) throw new UnsupportedOperatorError([describe(node)]);
    return d;
  }
  /** Throws one error naming every unsupported node, so a user learns them all at once. */
  checkSupported(nodes: readonly GraphNode[]): void {
    const missing = nodes.filter((n) => !this.find(n)).map(describe);
    if (missing.length) throw new UnsupportedOperatorError(missing);
  }
  get opTypes(): string[] { return [...this.byKey.keys()].map((k) => k.split(':')[1]!).sort(); }
}
