import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { toHostAndPort, withConnection } from 'rx-tcp';
import { defer, firstValueFrom, lastValueFrom } from 'rxjs';
import { waitFor, within } from './helpers/net';

const ROOT = path.resolve(__dirname, '..');
/** Three processes start ts-node each: generous on a loaded machine, and still bounded. */
const START_TIMEOUT = 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs examples/cluster-echo.ts in a child process, collecting its output line by line. */
function startExample(workers: number) {
  const child = spawn(
    process.execPath,
    [
      ...['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'],
      'examples/cluster-echo.ts',
      ...['--workers', String(workers)],
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let partial = '';
  const onData = (data: Buffer) => {
    const parts = (partial + data.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // 'close', not 'exit': at 'exit' the last lines may still wait unread in the pipe.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  /** The first line (already printed or to come) matching `pattern`; rejects if the process exits first. */
  const line = (pattern: RegExp) => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return Promise.race([
      new Promise<string>((resolve) => waiters.push({ pattern, resolve })),
      exited.then((code) => {
        throw new Error(`cluster-echo exited (${code}) before printing ${pattern}:\n${lines.join('\n')}`);
      }),
    ]);
  };
  return { child, lines, exited, line };
}

describe('node:cluster', () => {
  const pids: number[] = [];
  afterAll(() => {
    // Whatever happened in the test, no process outlives it.
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('runs Server.create unchanged in 2 workers sharing one port, and both serve connections', async () => {
    const { child, lines, exited, line } = startExample(2);
    pids.push(child.pid!);
    await within(line(/^cluster-echo: 2 workers on port/), START_TIMEOUT, 'the cluster to listen');
    const listening = lines
      .map((line) => /^worker (\d+) \(pid (\d+)\) listening on port (\d+)$/.exec(line))
      .filter((match) => match !== null);
    expect(listening).toHaveLength(2);
    pids.push(...listening.map((match) => Number(match[2])));
    // onPortChosenByOs in each worker, and yet one port: cluster shares the first one chosen.
    const ports = new Set(listening.map((match) => Number(match[3])));
    expect(ports.size).toBe(1);
    const [port] = ports;

    const greetings = new Set<string>();
    for (let i = 0; i < 40 && greetings.size < 2; i++) {
      const greeting = await lastValueFrom(
        withConnection(toHostAndPort('127.0.0.1', port), ({ reader, writer }) =>
          defer(async () => {
            const first = String(await firstValueFrom(reader.readLine()));
            writer.writeLine(`ping ${i}`);
            expect(await firstValueFrom(reader.readLine())).toBe(`ping ${i}`);
            return first;
          }),
        ),
      );
      greetings.add(greeting);
    }
    const served = [...greetings].map((greeting) => /^worker (\d+) pid (\d+)$/.exec(greeting));
    expect(served.map((match) => Number(match?.[2])).sort()).toEqual(pids.slice(1).sort());

    child.kill('SIGTERM');
    expect(await within(exited, 15_000, 'the primary to exit')).toBe(0);
    expect(lines).toContain('cluster-echo: stopping');
    await waitFor(() => pids.every((pid) => !alive(pid)), 10_000, 'every process to exit');
  }, 120_000);
});
