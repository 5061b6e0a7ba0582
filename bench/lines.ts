/**
 * Throughput of `lines()` against `node:readline` on the same ~100 MB of text, and the cost of one
 * frame spread over many small chunks (which must grow linearly with the frame, not quadratically).
 *
 * Run alone with `npm run bench -- lines`; `main()` is exported for a bench runner.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { from, lastValueFrom, type OperatorFunction, tap } from 'rxjs';
import { encodeLengthPrefixed, lengthPrefixed, lines, splitOn } from '../src/operators';
import { median } from './common';

const TOTAL_BYTES = 100 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
const ROUNDS = 7;
const SPAN_CHUNKS = [10_000, 20_000, 40_000];

/** A small deterministic generator (mulberry32), so that every run measures the same text. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Lines of mixed lengths (mostly 0 to 120 bytes, a few up to 4 KiB), one in eight with multi-byte
 * UTF-8 characters and one in sixteen ending in `\r\n`, cut into 64 KiB chunks regardless of where
 * lines and characters end.
 */
function makeChunks(): Buffer[] {
  const next = random(42);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'GET', '/index.html', '200', 'OK', 'x=1;y=2', '{"k":3}'];
  const wide = ['é', 'ß', 'Ж', '中文', '€', '😀', 'ü'];
  const pool: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const target = next() < 0.02 ? Math.floor(next() * 4096) : Math.floor(next() * 120);
    const multiByte = next() < 0.125;
    let line = '';
    while (Buffer.byteLength(line) < target) {
      line +=
        multiByte && next() < 0.3 ? wide[Math.floor(next() * wide.length)] : words[Math.floor(next() * 10)];
      line += ' ';
    }
    pool.push(Buffer.from(line + (next() < 0.0625 ? '\r\n' : '\n')));
  }
  const parts: Buffer[] = [];
  let size = 0;
  while (size < TOTAL_BYTES) {
    const line = pool[Math.floor(next() * pool.length)];
    parts.push(line);
    size += line.length;
  }
  const all = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += CHUNK_BYTES) chunks.push(all.subarray(i, i + CHUNK_BYTES));
  return chunks;
}

interface Tally {
  lines: number;
  chars: number;
}

async function viaOperator(chunks: Buffer[]): Promise<Tally> {
  const tally = { lines: 0, chars: 0 };
  const source = from(Readable.from(chunks, { objectMode: true }) as AsyncIterable<Buffer>);
  await lastValueFrom(
    source.pipe(
      lines(),
      tap((line) => {
        tally.lines += 1;
        tally.chars += line.length;
      }),
    ),
    { defaultValue: undefined },
  );
  return tally;
}

async function viaReadline(chunks: Buffer[]): Promise<Tally> {
  const tally = { lines: 0, chars: 0 };
  const reader = createInterface({ input: Readable.from(chunks, { objectMode: true }), crlfDelay: Infinity });
  reader.on('line', (line: string) => {
    tally.lines += 1;
    tally.chars += line.length;
  });
  await once(reader, 'close');
  return tally;
}

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await run();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, result };
}

async function throughput(): Promise<number> {
  const chunks = makeChunks();
  const bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const megabytes = bytes / 1e6;
  console.log(`lines() vs readline: ${megabytes.toFixed(1)} MB in ${chunks.length} chunks of 64 KiB`);
  const rates = { operator: [] as number[], readline: [] as number[] };
  // One unmeasured round each, so that both are compiled before timing starts.
  const expected = await viaReadline(chunks);
  const warm = await viaOperator(chunks);
  if (warm.lines !== expected.lines || warm.chars !== expected.chars) {
    throw new Error(`lines() and readline disagree: ${JSON.stringify(warm)} vs ${JSON.stringify(expected)}`);
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which side runs first, so that neither always inherits the other's garbage.
    const order = round % 2 === 0 ? (['operator', 'readline'] as const) : (['readline', 'operator'] as const);
    for (const side of order) {
      const { ms, result } = await timed(() =>
        side === 'operator' ? viaOperator(chunks) : viaReadline(chunks),
      );
      if (result.lines !== expected.lines) throw new Error(`${side} saw ${result.lines} lines`);
      rates[side].push(megabytes / (ms / 1000));
    }
  }
  const operator = median(rates.operator);
  const readline = median(rates.readline);
  console.log(`  ${expected.lines} lines, ${ROUNDS} alternating rounds, medians:`);
  console.log(`  lines():  ${operator.toFixed(0)} MB/s`);
  console.log(`  readline: ${readline.toFixed(0)} MB/s`);
  console.log(`  ratio:    ${(operator / readline).toFixed(2)}x (target >= 3x)`);
  return operator / readline;
}

/** Nanoseconds per byte to decode `chunks` with `decode` (median of 5 runs). */
function nanosPerByte(
  chunks: Buffer[],
  decode: OperatorFunction<Uint8Array, unknown>,
  expectedFrames: number,
): { bytes: number; ns: number } {
  const bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    let frames = 0;
    const start = process.hrtime.bigint();
    from(chunks)
      .pipe(decode)
      .subscribe(() => frames++);
    samples.push(Number(process.hrtime.bigint() - start) / bytes);
    if (frames !== expectedFrames) throw new Error(`expected ${expectedFrames} frames, got ${frames}`);
  }
  return { bytes, ns: median(samples) };
}

function spanning(): void {
  console.log('one frame spanning many small chunks (time per byte should stay flat):');
  const cases: {
    name: string;
    chunkBytes: number;
    build: (size: number) => Buffer;
    decode: () => OperatorFunction<Uint8Array, unknown>;
  }[] = [
    {
      name: 'lines()                   16-byte chunks',
      chunkBytes: 16,
      build: (size) => Buffer.concat([Buffer.alloc(size - 1, 'a'), Buffer.from('\n')]),
      decode: () => lines({ maxLineLength: 1 << 20 }),
    },
    {
      name: "splitOn('\\r\\n\\r\\n')        3-byte chunks",
      chunkBytes: 3,
      build: (size) => Buffer.concat([Buffer.alloc(size - 4, 'a'), Buffer.from('\r\n\r\n')]),
      decode: () => splitOn('\r\n\r\n'),
    },
    {
      name: 'lengthPrefixed()          16-byte chunks',
      chunkBytes: 16,
      build: (size) => encodeLengthPrefixed(Buffer.alloc(size - 4, 'a')),
      decode: () => lengthPrefixed(),
    },
  ];
  for (const { name, chunkBytes, build, decode } of cases) {
    const measure = (count: number) => {
      const frame = build(count * chunkBytes);
      const chunks: Buffer[] = [];
      // Copies, so that each chunk is a separate buffer as a socket would deliver it.
      for (let i = 0; i < frame.length; i += chunkBytes)
        chunks.push(Buffer.from(frame.subarray(i, i + chunkBytes)));
      return { count, ...nanosPerByte(chunks, decode(), 1) };
    };
    // A warm-up run, so that the first size is not charged for compiling.
    measure(SPAN_CHUNKS[SPAN_CHUNKS.length - 1]);
    const results = SPAN_CHUNKS.map(measure);
    const cells = results.map(({ count, ns }) => `${count} chunks ${ns.toFixed(1)} ns/B`);
    const growth = results[results.length - 1].ns / results[0].ns;
    console.log(`  ${name}: ${cells.join(', ')} (x${growth.toFixed(2)} from first to last)`);
  }
}

export async function main(): Promise<void> {
  const start = Date.now();
  await throughput();
  spanning();
  console.log(`done in ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
