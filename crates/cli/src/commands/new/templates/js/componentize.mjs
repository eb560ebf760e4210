// node componentize.mjs TOOLS_DIR SOURCE.js WIT_DIR OUT.wasm
// Calls componentize-js directly (`jco componentize` 1.35.0 fails on paths). Every optional
// engine feature is off, so the component imports nothing but toolhost:plugin/host.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFile } from 'node:fs/promises';

const [toolsDir, sourcePath, witPath, outPath] = process.argv.slice(2);
const pkgDir = join(resolve(toolsDir), 'node_modules', '@bytecodealliance', 'componentize-js');
const pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));
const { componentize } = await import(pathToFileURL(join(pkgDir, pkg.exports.import)).href);
const { component } = await componentize({
  sourcePath: resolve(sourcePath),
  witPath: resolve(witPath),
  worldName: 'plugin',
  disableFeatures: ['http', 'fetch-event', 'stdio', 'random', 'clocks'],
});
await writeFile(outPath, component);
