// Builds one JavaScript plugin into a WebAssembly component with componentize-js.
//
//   node componentize.mjs TOOLS_DIR SOURCE.js WIT_DIR OUT.wasm
//
// TOOLS_DIR is the npm prefix holding @bytecodealliance/componentize-js (plugins/js/build.sh
// passes $HOME/.cache/toolhost/tools/jsguest). Used instead of `jco componentize`, which fails
// in jco 1.35.0 with "failed to get path metadata: No such file or directory (os error 44)".
//
// Every optional WASI feature of the engine is disabled: `http`/`fetch-event` would make the
// component import wasi:http (denied unless the manifest grants hosts), and the plugins need no
// stdio, random numbers or clocks, so the component imports nothing but `toolhost:plugin/host`.
import { spawnSync } from 'node:child_process';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, sourcePath, witPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node componentize.mjs TOOLS_DIR SOURCE.js WIT_DIR OUT.wasm');
  process.exit(2);
}

// componentize-js reports a syntax error only as "failed to parse JS source, encountered [1]
// errors": let Node say where it is first.
const check = spawnSync(process.execPath, ['--input-type=module', '--check'], {
  input: await readFile(sourcePath),
  encoding: 'utf8',
});
if (check.status !== 0) {
  const where = check.stderr.split('\n').filter((l) => !/^\s+at |^Node\.js v/.test(l)).join('\n').trim();
  console.error(`${sourcePath}: ${where.replace(/^\[stdin\]/, 'line')}`);
  process.exit(1);
}

const pkgDir = join(resolve(toolsDir), 'node_modules', '@bytecodealliance', 'componentize-js');
const pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));
const { componentize } = await import(pathToFileURL(join(pkgDir, pkg.exports.import)).href);

const { component, imports } = await componentize({
  sourcePath: resolve(sourcePath),
  witPath: resolve(witPath),
  worldName: 'plugin',
  disableFeatures: ['http', 'fetch-event', 'stdio', 'random', 'clocks'],
});

// Write beside the target and rename, so a watcher never sees a half-written component.
const tmp = `${outPath}.${process.pid}.tmp`;
await writeFile(tmp, component);
await rename(tmp, outPath);
if (process.env.COMPONENTIZE_VERBOSE) console.error('guest imports:', JSON.stringify(imports));
