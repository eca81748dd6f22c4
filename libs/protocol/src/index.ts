// The broker protocol (docs/broker-protocol.md): framing, envelopes and error form shared by server and client.
export * from './protocol-constants';
export * from './protocol-frames';
export { FrameDecoder, FrameError, checkFrame, encodeFrame, frameSize } from './frame-codec';
export { ProtocolError, toWireError } from './wire-error';
export * from './backlog-frames';
export { FramedChannel, type ChannelSocket, type FramedChannelOptions } from './framed-channel';
export { PendingRequests, type PendingRequestErrors } from './pending-requests';
