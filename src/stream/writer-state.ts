/**
 * Where a writer is in its life. Each state is entered in one place, the writer's `enter`, and the
 * two terminal ones settle every waiter there.
 *
 * - `open`: writes are sent.
 * - `gone`: the peer left (reset, broken pipe, socket closed) and nothing written was lost; a
 *   write now would be, and fails the writer.
 * - `closing`: `close()` was called: flushing, then FIN.
 * - `closed`: FIN sent, or the connection ended with nothing lost. Terminal.
 * - `failed`: written bytes were lost, or the writer was torn down; `failure` says why. Terminal.
 */
export type WriterState = 'open' | 'gone' | 'closing' | 'closed' | 'failed';
