/**
 * Dynamic import of a module by URL (workflow handler modules). The CLI bundle runs from a V8 code cache
 * (src/cli/code-cache.ts), and in Node 20 a function restored from a code cache cannot call import(): the
 * launcher hands its own importer in with setImporter.
 */
let importer: (url: string) => Promise<unknown> = (url) => import(url);

export function setImporter(fn: (url: string) => Promise<unknown>): void {
  importer = fn;
}

export function importModule(url: string): Promise<unknown> {
  return importer(url);
}
