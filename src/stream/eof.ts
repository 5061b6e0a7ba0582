/**
 * The value a pull read gives at end of stream, when no byte at all is left. It is the same symbol
 * in every copy of rx-tcp in the process (`Symbol.for`), so the CommonJS and ESM builds agree.
 *
 * ```ts
 * import { firstValueFrom } from 'rxjs';
 * import { EOF, type Reader } from 'rx-tcp';
 *
 * async function firstLine(reader: Reader): Promise<string | undefined> {
 *   const line = await firstValueFrom(reader.readLine());
 *   return line === EOF ? undefined : line;
 * }
 * ```
 */
export const EOF: unique symbol = Symbol.for('rx-tcp.EOF');
/** The type of {@link EOF}. */
export type EOF = typeof EOF;
