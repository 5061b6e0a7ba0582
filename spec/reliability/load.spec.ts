import { execFile } from 'node:child_process';
import * as path from 'node:path';

const COUNT = 10_000;

describe('load', () => {
  it(`holds ${COUNT} concurrent connections against one server: all served, none reset`, async () => {
    // The server and the clients run in two processes, each raising its soft open-file limit to
    // the hard one: 10 000 descriptors each, where the default soft limit is often 1 024.
    const worker = path.join(__dirname, 'load-worker.ts');
    const command = `ulimit -n $(ulimit -Hn) && exec "${process.execPath}" -r ts-node/register/transpile-only -r tsconfig-paths/register "${worker}" ${COUNT}`;
    const output = await new Promise<string>((resolve, reject) =>
      execFile('bash', ['-c', command], { timeout: 120_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const report = JSON.parse(output.trim().split('\n').pop()!);
    console.log(`load: ${report.held} connections held at once, served in ${report.elapsed} ms`);
    expect(report).toMatchObject({
      count: COUNT,
      served: COUNT,
      answered: COUNT,
      open: COUNT,
      held: COUNT,
      resets: 0,
      left: 0,
    });
  }, 150_000);
});
