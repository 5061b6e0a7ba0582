export type { LineEncoding } from '../bytes/line-decoder';
export { FrameTooLongError, TruncatedFrameError } from '../errors';
export { type DecodeCursor, type DecodeOptions, type DecodeStep, decode } from './decode';
export { type EncodeLengthPrefixedOptions, encodeLengthPrefixed } from './encode-length-prefixed';
export { fixedSize } from './fixed-size';
export { type LengthPrefixedOptions, lengthPrefixed } from './length-prefixed';
export { type LinesOptions, lines } from './lines';
export { type SplitOnOptions, splitOn } from './split-on';
