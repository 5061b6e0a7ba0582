import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './helpers/servers';

const root = path.join(__dirname, '..');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });

/** The directory of `name` as Node would load it from `from`: the nearest `node_modules/name` up the tree. */
function packageDir(name: string, from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === path.dirname(dir)) throw new Error(`${name} is not installed (looked up from ${from})`);
  }
}

/** `name` as installed for `from`, and everything it depends on, each once: the directories to pack. */
function withDependencies(
  name: string,
  from: string,
  found = new Map<string, string>(),
): Map<string, string> {
  if (found.has(name)) return found;
  const dir = packageDir(name, from);
  found.set(name, dir);
  const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const dependency of Object.keys(dependencies)) withDependencies(dependency, dir, found);
  return found;
}

describe('the packed package', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());
  let tarball: string;
  let files: string[];
  // The project's own npm cache, empty: what the user's cache holds (tarballs without registry
  // metadata after `npm ci`, or nothing on a fresh machine) changes nothing.
  const cache = path.join(tmp.dir, 'npm-cache');
  const pack = (dir: string) => {
    const [packed] = JSON.parse(
      npm(['pack', dir, '--json', '--ignore-scripts', '--pack-destination', tmp.dir, '--cache', cache], root),
    );
    return packed;
  };

  beforeAll(() => {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { cwd: root, stdio: 'ignore' });
    const packed = pack(root);
    tarball = path.join(tmp.dir, packed.filename);
    files = packed.files.map((f: { path: string }) => f.path);
  }, 180_000);

  it('holds the ESM, CommonJS and declaration builds, README and LICENSE, and no sources or tests', () => {
    for (const entry of ['', 'operators/', 'testing/']) {
      expect(files).toContain(`dist/esm/${entry}index.js`);
      expect(files).toContain(`dist/cjs/${entry}index.js`);
      expect(files).toContain(`dist/types/${entry}index.d.ts`);
    }
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
    expect(files.filter((f) => /^(src|spec|bench|examples)\/|\.map$|\.spec\./.test(f))).toEqual([]);
  });

  it('installs into a fresh project without the network, and imports from ESM and CommonJS', () => {
    const project = path.join(tmp.dir, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "consumer", "private": true }\n');
    // The peer dependency comes as a tarball too, packed from this checkout's node_modules with its
    // own dependencies (tslib): every package is a local file, so npm needs no registry metadata.
    const peers = [...withDependencies('rxjs', root).values()].map((dir) =>
      path.join(tmp.dir, pack(dir).filename),
    );
    npm(['install', '--offline', '--no-audit', '--no-fund', '--cache', cache, tarball, ...peers], project);
    const installed = (name: string) =>
      JSON.parse(fs.readFileSync(path.join(project, 'node_modules', name, 'package.json'), 'utf8')).version;
    expect(installed('rxjs')).toBe(
      JSON.parse(fs.readFileSync(path.join(root, 'node_modules/rxjs/package.json'), 'utf8')).version,
    );
    const names = `['connect', 'Server', 'EOF'], ['lines', 'lengthPrefixed'], ['connectionPair', 'marbleConnection']`;
    const check = (load: string) => `
      const expected = [${names}];
      const loaded = ${load};
      expected.forEach((want, i) => want.forEach((name) => {
        if (loaded[i][name] === undefined) throw new Error('missing ' + name + ' in entry ' + i);
      }));
      console.log('ok');`;
    const cjs = check(`['rx-tcp', 'rx-tcp/operators', 'rx-tcp/testing'].map((m) => require(m))`);
    expect(execFileSync(process.execPath, ['-e', cjs], { cwd: project, encoding: 'utf8' }).trim()).toBe('ok');
    const esm = `(async () => { ${check(
      `await Promise.all(['rx-tcp', 'rx-tcp/operators', 'rx-tcp/testing'].map((m) => import(m)))`,
    )} })().catch((e) => { console.error(e); process.exit(1); });`;
    expect(
      execFileSync(process.execPath, ['--input-type=module', '-e', esm], {
        cwd: project,
        encoding: 'utf8',
      }).trim(),
    ).toBe('ok');
  }, 180_000);
});
