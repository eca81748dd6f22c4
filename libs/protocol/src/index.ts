// The broker protocol (docs/broker-protocol.md), shared by the standalone broker and its clients.

// ---- what travels: constants, frames and the arguments and results of each call
export * from './protocol-constants';
export * from './protocol-frames';
export * from './backlog-frames';

// ---- the codec: frames to bytes and back, with bounded memory
export { FrameDecoder, checkFrame, encodeFrame, frameSize } from './frame-codec';

// ---- errors: what breaks the framing, what breaks the protocol, and the form an error travels in
export { FrameError } from './frame.error';
export { ProtocolError } from './protocol.error';
export { toWireError } from './wire-error';

// ---- the channel each side runs on its socket: reading, batched writes, calls matched to answers, backpressure
export { FramedChannel, type ChannelSocket, type FramedChannelOptions } from './framed-channel';
export { PendingRequests, type PendingRequestErrors } from './pending-requests';
export { FrameBatch, type BatchScheduler, type FrameBatchOptions } from './frame-batch';
