/** Op type to kernel definition. The runtime looks ops up here and nowhere else. */
import type { GraphNode } from '../runtime/graph.js';
import type { OpDef } from './types.js';
import { UnsupportedOperatorError } from '../runtime/errors.js';

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
    if (!d) throw new UnsupportedOperatorError([{ opType: node.opType, name: node.name, domain: node.domain }]);
    return d;
  }
  /** Throws one error naming every unsupported node, so a user learns them all at once. */
  checkSupported(nodes: readonly GraphNode[]): void {
    const missing = nodes.filter((n) => !this.find(n)).map((n) => ({ opType: n.opType, name: n.name, domain: n.domain }));
    if (missing.length) throw new UnsupportedOperatorError(missing);
  }
  get opTypes(): string[] { return [...this.byKey.keys()].map((k) => k.split(':')[1]!).sort(); }
}
