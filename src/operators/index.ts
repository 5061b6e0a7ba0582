// operators/: the public framing operators of rx-tcp/operators, over bytes/'s decoders.
// May import bytes/, the top-level basics (errors, validate, bare-subscriber) and rxjs; nothing
// from stream/, node/, client/, server/ or testing/.
export type { LineEncoding } from '../bytes/line-decoder';
export { FrameTooLongError, TruncatedFrameError } from '../errors';
export { type DecodeOptions, decode } from './decode';
export type { DecodeCursor, DecodeStep } from './decode-cursor';
export { type EncodeLengthPrefixedOptions, encodeLengthPrefixed } from './encode-length-prefixed';
export { fixedSize } from './fixed-size';
export { type LengthPrefixedOptions, lengthPrefixed } from './length-prefixed';
export { type LinesOptions, lines } from './lines';
export { type SplitOnOptions, splitOn } from './split-on';
