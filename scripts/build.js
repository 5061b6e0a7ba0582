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

// Node's ES module loader wants full specifiers: './reader' becomes './reader.js' and a folder
// './operators' becomes './operators/index.js'.
function addExtensions(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      addExtensions(file);
    } else if (entry.name.endsWith('.js')) {
      const code = fs
        .readFileSync(file, 'utf8')
        .replace(
          /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]*)\2/g,
          (match, lead, quote, specifier) => {
            if (specifier.endsWith('.js')) return match;
            const target = path.resolve(path.dirname(file), specifier);
            const full = fs.existsSync(`${target}.js`) ? `${specifier}.js` : `${specifier}/index.js`;
            return `${lead}${quote}${full}${quote}`;
          },
        );
      fs.writeFileSync(file, code);
    }
  }
}
addExtensions(path.join(dist, 'esm'));

fs.writeFileSync(path.join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
fs.writeFileSync(path.join(dist, 'esm', 'package.json'), '{ "type": "module" }\n');
