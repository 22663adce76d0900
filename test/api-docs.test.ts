/**
 * Every name the package exports (main, node, overlay and metrics entries) has a doc comment, as
 * editors show it: TypeScript's own reading of the sources, through aliases and re-exports.
 */
import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const ENTRIES = ['src/index.ts', 'src/node.ts', 'src/render.ts', 'src/xai/metrics/index.ts'].map((f) => resolve(ROOT, f));

describe('public API documentation', () => {
  it('has a doc comment on every exported type, class, function and constant', () => {
    const program = ts.createProgram(ENTRIES, {
      module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
      types: ['node', '@webgpu/types'], lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], noEmit: true,
    });
    const checker = program.getTypeChecker();
    const undocumented: string[] = [];
    let count = 0;
    for (const entry of ENTRIES) {
      const mod = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
      for (const sym of checker.getExportsOfModule(mod)) {
        const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
        count++;
        if (target.getDocumentationComment(checker).length === 0) {
          undocumented.push(`${sym.name} (${target.declarations?.[0]?.getSourceFile().fileName.slice(ROOT.length + 1) ?? '?'})`);
        }
      }
    }
    expect(count).toBeGreaterThan(100);
    expect(undocumented).toEqual([]);
  });
});
