import fc from 'fast-check';
import { from, type OperatorFunction } from 'rxjs';

/** Runs `operator` over `chunks`, synchronously, and reports what came out. */
export function run<I, T>(operator: OperatorFunction<I, T>, chunks: I[]) {
  const frames: T[] = [];
  let error: unknown;
  let completed = false;
  from(chunks)
    .pipe(operator)
    .subscribe({
      next: (frame) => frames.push(frame),
      error: (e) => {
        error = e;
      },
      complete: () => {
        completed = true;
      },
    });
  return { frames, error, completed };
}

/** Cuts `bytes` into chunks of the given sizes, cycling through them. */
export function cut(bytes: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length];
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** Chunk sizes for `cut`: any way of cutting a stream into small pieces. */
export const sizes = (max = 9, maxLength = 8) =>
  fc.array(fc.integer({ min: 1, max }), { minLength: 1, maxLength });

/** Latin-1 text as bytes, one byte per character. */
export const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Each byte as a chunk of its own. */
export const oneByOne = (bytes: Buffer) => [...bytes].map((byte) => Buffer.of(byte));
