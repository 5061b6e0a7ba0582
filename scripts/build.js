// Builds dist/cjs (CommonJS), dist/esm (ES modules) and dist/types (declarations) with tsc alone.
// The ESM build is marked by a nested package.json so that Node picks the right loader for each.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const tsc = require.resolve('typescript/bin/tsc');
fs.rmSync(dist, { recursive: true, force: true });

function run(...args) {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', ...args], {
    cwd: root,
    stdio: 'inherit',
  });
}
run('--outDir', 'dist/cjs', '--module', 'commonjs', '--declaration', 'false');
run('--outDir', 'dist/esm', '--module', 'es2022', '--declaration', 'false');
run('--outDir', 'dist/types', '--emitDeclarationOnly');

fs.writeFileSync(path.join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
fs.writeFileSync(path.join(dist, 'esm', 'package.json'), '{ "type": "module" }\n');
