import { constants } from 'node:buffer';

/** Default longest line of `lines()`, in bytes without the line ending: 64 KiB. */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

/** Default longest frame of `splitOn()`, `lengthPrefixed()` and `encodeLengthPrefixed()`: 16 MiB. */
export const DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024;

/** The largest limit accepted: no frame can be longer than the largest `Buffer`. */
export const MAX_LIMIT = Math.min(constants.MAX_LENGTH, Number.MAX_SAFE_INTEGER);
