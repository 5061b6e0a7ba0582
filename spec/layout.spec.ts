import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * The import rules of `src/`, as each folder's header comment states them. A file may import the
 * modules its place allows; a type-only import of `node:net` or `node:tls` (an option's type) is
 * allowed anywhere, since it is gone from the build.
 */
const SRC = path.join(__dirname, '..', 'src');

/** The top-level files every layer may use: errors, addresses, validation. */
const BASICS = ['errors', 'address', 'validate', 'brand', 'bare-subscriber'];

/** What each place may import, besides itself, `node:buffer`, `node:os`-style helpers and rxjs. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  basics: [...BASICS],
  'where-to': [...BASICS, 'where-to-connect', 'where-to-listen'],
  bytes: ['errors', 'address', 'validate', 'bytes/'],
  operators: [...BASICS, 'bytes/', 'operators/'],
  stream: [...BASICS, 'bytes/', 'stream/'],
  node: [...BASICS, 'where-to-connect', 'where-to-listen', 'bytes/', 'stream/', 'node/'],
  connection: [...BASICS, 'bytes/', 'stream/', 'node/socket', 'connection'],
  client: [...BASICS, 'where-to-connect', 'connection', 'bytes/', 'stream/', 'node/', 'client/'],
  server: [
    ...BASICS,
    'where-to-listen',
    'connection-failure',
    'connection',
    'bytes/',
    'stream/',
    'node/',
    'server/',
  ],
  testing: [
    ...BASICS,
    'connection',
    'connection-failure',
    'bytes/',
    'stream/',
    'node/',
    'server/',
    'testing/',
  ],
  entry: ['*'],
};

/** Runtime imports of these Node modules are for `node/` alone (and `isIP`, a pure function). */
const SOCKET_MODULES = ['node:net', 'node:tls'];
const PURE_FROM_NET = new Set(['isIP', 'isIPv4', 'isIPv6']);

function placeOf(file: string): string {
  const [first, second] = file.split('/');
  if (second !== undefined) return first;
  const name = first.replace(/\.ts$/, '');
  if (name === 'index' || name === 'tcp') return 'entry';
  if (name === 'where-to-connect' || name === 'where-to-listen') return 'where-to';
  if (name === 'connection' || name === 'connection-failure') return 'connection';
  return 'basics';
}

interface Import {
  specifier: string;
  typeOnly: boolean;
  names: string[];
}

function importsOf(file: string): Import[] {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest);
  const found: Import[] = [];
  for (const statement of source.statements) {
    if (
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier !== undefined &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      let typeOnly = false;
      const names: string[] = [];
      if (ts.isImportDeclaration(statement)) {
        const clause = statement.importClause;
        const bindings = clause?.namedBindings;
        const named = bindings !== undefined && ts.isNamedImports(bindings) ? bindings.elements : [];
        names.push(...named.map((element) => element.name.text));
        typeOnly =
          clause !== undefined &&
          (clause.isTypeOnly ||
            (clause.name === undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
      } else {
        typeOnly = statement.isTypeOnly;
      }
      found.push({ specifier: statement.moduleSpecifier.text, typeOnly, names });
    }
  }
  return found;
}

function sourceFiles(dir = ''): string[] {
  return fs
    .readdirSync(path.join(SRC, dir), { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? sourceFiles(path.join(dir, entry.name))
        : entry.name.endsWith('.ts')
          ? [path.join(dir, entry.name)]
          : [],
    );
}

/** `file`'s imports of other `src/` files, as paths relative to `src/` without `.ts`. */
function localTargets(file: string): { target: string; typeOnly: boolean }[] {
  return importsOf(file)
    .filter(({ specifier }) => specifier.startsWith('.'))
    .map(({ specifier, typeOnly }) => {
      let target = path.normalize(path.join(path.dirname(file), specifier));
      if (fs.existsSync(path.join(SRC, target, 'index.ts'))) target = path.join(target, 'index');
      return { target, typeOnly };
    });
}

function allowed(place: string, target: string): boolean {
  const rules = MAY_IMPORT[place];
  return rules.some(
    (rule) => rule === '*' || (rule.endsWith('/') ? target.startsWith(rule) : target === rule),
  );
}

describe('the layout of src/', () => {
  const files = sourceFiles();

  it('has every file in a known place', () => {
    expect(files.filter((file) => MAY_IMPORT[placeOf(file)] === undefined)).toEqual([]);
  });

  it('keeps each folder to the imports its header states', () => {
    const broken = files.flatMap((file) =>
      localTargets(file)
        .filter(({ target }) => !allowed(placeOf(file), target))
        .map(({ target }) => `${file} imports ${target}`),
    );
    expect(broken).toEqual([]);
  });

  it('leaves the runtime use of node:net and node:tls to node/', () => {
    const broken = files
      .filter((file) => placeOf(file) !== 'node')
      .flatMap((file) =>
        importsOf(file)
          .filter(
            ({ specifier, typeOnly, names }) =>
              SOCKET_MODULES.includes(specifier) &&
              !typeOnly &&
              !(names.length > 0 && names.every((name) => PURE_FROM_NET.has(name))),
          )
          .map(({ specifier }) => `${file} imports ${specifier}`),
      );
    expect(broken).toEqual([]);
  });

  it('keeps the pure layers free of rxjs', () => {
    const broken = files
      .filter((file) => placeOf(file) === 'bytes')
      .filter((file) => importsOf(file).some(({ specifier }) => specifier === 'rxjs'));
    expect(broken).toEqual([]);
  });

  it('has no import cycle, type-only imports included', () => {
    const graph = new Map(
      files.map((file) => [file.replace(/\.ts$/, ''), localTargets(file).map((t) => t.target)]),
    );
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (node: string): void => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...stack.slice(stack.indexOf(node)), node].join(' -> '));
        return;
      }
      state.set(node, 'visiting');
      stack.push(node);
      for (const next of graph.get(node) ?? []) visit(next);
      stack.pop();
      state.set(node, 'done');
    };
    for (const node of graph.keys()) visit(node);
    expect(cycles).toEqual([]);
  });

  it('keeps src/testing out of the product', () => {
    const broken = files
      .filter((file) => placeOf(file) !== 'testing')
      .flatMap((file) => localTargets(file).filter(({ target }) => target.startsWith('testing/')))
      .map(({ target }) => target);
    expect(broken).toEqual([]);
  });

  it('keeps every source file to one job of at most about 400 lines', () => {
    const long = files.filter(
      (file) => fs.readFileSync(path.join(SRC, file), 'utf8').split('\n').length > 420,
    );
    expect(long).toEqual([]);
  });
});
