/**
 * The web page as the package ships it: web/main.ts bundled and minified into one ES module beside
 * a copy of web/index.html. `npm run build` writes it to dist/web; the web page test builds it the
 * same way to test what users get.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Writes index.html and main.js into `outDir`. */
export async function buildPage(outDir) {
  const { build } = await import('esbuild');
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(root, 'web', 'main.ts')], bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
    // keepNames: the page shows errors as `${e.name}: ${e.message}`, and typed errors are named by their class.
    minify: true, keepNames: true, legalComments: 'none', outfile: join(outDir, 'main.js'), logLevel: 'warning',
  });
  copyFileSync(join(root, 'web', 'index.html'), join(outDir, 'index.html'));
}
