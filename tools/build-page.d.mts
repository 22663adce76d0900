/** Writes the shipped web page (index.html, minified main.js) into `outDir`. */
export function buildPage(outDir: string): Promise<void>;
