import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './helpers/servers';

const root = path.join(__dirname, '..');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });

describe('the packed package', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());
  let tarball: string;
  let files: string[];

  beforeAll(() => {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { cwd: root, stdio: 'ignore' });
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp.dir], root));
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

  it('installs into a fresh project and imports from ESM and CommonJS', () => {
    const project = path.join(tmp.dir, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "consumer", "private": true }\n');
    const rxjs = JSON.parse(
      fs.readFileSync(path.join(root, 'node_modules/rxjs/package.json'), 'utf8'),
    ).version;
    npm(['install', '--offline', '--no-audit', '--no-fund', tarball, `rxjs@${rxjs}`], project);
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
