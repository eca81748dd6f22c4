/**
 * Constants of the ReliableMQ broker protocol (docs/broker-protocol.md). Shared by the broker server and the remote
 * transport; no Nest and no engine imports, so either side can load it alone.
 */

/** Bumped on any change an older peer could misread. The server refuses a hello naming another version. */
export const PROTOCOL_VERSION = 1;

export const DEFAULT_BROKER_PORT = 7420;
export const DEFAULT_BROKER_HOST = '127.0.0.1';
export const BROKER_URL_SCHEME = 'reliable-mq:';

/** Bytes of the big-endian length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4;
/** Largest frame payload accepted by default (8 MiB); the server announces its own limit in the hello reply. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
/**
 * Largest frame a server accepts before a successful hello: a hello with the longest token and client name fits. A peer
 * that has not proven it holds the token cannot make the server buffer more.
 */
export const MAX_HELLO_FRAME_BYTES = 16 * 1024;
/** No deployment may raise the limit past this: the prefix is 32 bits and a frame is held whole in memory. */
export const MAX_FRAME_BYTES_CEILING = 256 * 1024 * 1024;

/** What the first byte of meaning says about a frame: the `t` field. */
export const FrameType = {
  /** Asks the other side to run `op` with `a`; answered by RESPONSE or ERROR with the same `id`, unless `id` is 0. */
  REQUEST: 1,
  /** Result `r` of the request `id`. */
  RESPONSE: 2,
  /** Failure `e` of the request `id`; `id` 0 is about the connection, which the sender then closes. */
  ERROR: 3,
  /** One-way news from the server (`op`, `a`): deliveries, a subscription ended, going away. */
  EVENT: 4,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Calls a client may make. Anything else is an unknown call: error frame, then the connection is closed. */
export const ClientOp = {
  HELLO: 'hello',
  PING: 'ping',
  TOPIC_ENSURE: 'topic.ensure',
  TOPIC_LIST: 'topic.list',
  PUBLISH: 'publish',
  /**
   * Several `publish` calls in one frame, each stored and confirmed as if sent alone, answered together. Added within
   * version 1: a client sends it only to a server whose hello announces `batching: true`.
   */
  PUBLISH_BATCH: 'publish.batch',
  SUBSCRIBE: 'subscribe',
  UNSUBSCRIBE: 'unsubscribe',
  ACK: 'ack',
  NACK: 'nack',
  /** Several `ack`s in one notification (`{ tags }`); added within version 1 as `publish.batch` was. */
  ACK_BATCH: 'ack.batch',
  DLQ_LIST: 'dlq.list',
  DLQ_GET: 'dlq.get',
  DLQ_RESEND: 'dlq.resend',
  DLQ_DISCARD: 'dlq.discard',
  STATS: 'stats',
  TX_SEND: 'tx.send',
  TX_COMMIT: 'tx.commit',
  TX_ROLLBACK: 'tx.rollback',
  TX_CHECKER_REGISTER: 'tx.checker.register',
  TX_CHECKER_UNREGISTER: 'tx.checker.unregister',
  TX_LIST: 'tx.list',
  TX_COMMIT_DISCARDED: 'tx.commitDiscarded',
  TX_DISCARD_DISCARDED: 'tx.discardDiscarded',
  /**
   * Asks a live member of a group that subscribed to a topic with `validates: true` whether its handler would accept a
   * payload; the broker forwards it as `payload.validate`. Added within version 1: see `validateTimeoutMs` in hello.
   */
  PAYLOAD_VALIDATE: 'payload.validate',
  /**
   * Backlog calls, added within version 1 (docs/broker-protocol.md#backlog). `backlog.report` and
   * `backlog.resetPreview` read; the others change offsets or queues and need the admin token (FORBIDDEN otherwise).
   */
  BACKLOG_REPORT: 'backlog.report',
  BACKLOG_EXPAND: 'backlog.expand',
  BACKLOG_REDISTRIBUTE: 'backlog.redistribute',
  BACKLOG_PROGRESS: 'backlog.progress',
  BACKLOG_RESET_PREVIEW: 'backlog.resetPreview',
  BACKLOG_RESET: 'backlog.reset',
} as const;
export type ClientOp = (typeof ClientOp)[keyof typeof ClientOp];

/** Calls the server makes to a client. */
export const ServerOp = {
  /** Checkback: asks a registered checker about one half message; answered with `{ outcome }`. */
  TX_CHECK: 'tx.check',
  /**
   * Asks the member holding subscription `sub` to check `payload` as its handler would before running, without
   * running it; answered with `{ valid: true }` or `{ valid: false, errors }`.
   */
  PAYLOAD_VALIDATE: 'payload.validate',
} as const;

/** Events the server pushes. */
export const ServerEvent = {
  DELIVER: 'deliver',
  /** Several deliveries in one event (`{ deliveries }`), sent only to a client whose hello said `batching: true`. */
  DELIVER_BATCH: 'deliver.batch',
  /** The server ended a subscription on its own (shutdown, the member reconnected elsewhere). */
  SUBSCRIPTION_CLOSED: 'sub.closed',
  /** The server is shutting down; reconnect later. */
  GOAWAY: 'goaway',
} as const;

/** Error codes of the protocol itself. Engine refusals carry the engine error's own code (e.g. UNKNOWN_TOPIC). */
export const ProtocolErrorCode = {
  BAD_FRAME: 'BAD_FRAME',
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  UNKNOWN_OP: 'UNKNOWN_OP',
  BAD_REQUEST: 'BAD_REQUEST',
  HANDSHAKE_REQUIRED: 'HANDSHAKE_REQUIRED',
  HANDSHAKE_TIMEOUT: 'HANDSHAKE_TIMEOUT',
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  UNAUTHORIZED: 'UNAUTHORIZED',
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  IDLE_TIMEOUT: 'IDLE_TIMEOUT',
  FRAME_TIMEOUT: 'FRAME_TIMEOUT',
  SLOW_READER: 'SLOW_READER',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  UNKNOWN_SUBSCRIPTION: 'UNKNOWN_SUBSCRIPTION',
  /** The answer would not fit in one frame; ask for less (a smaller `limit`). */
  RESPONSE_TOO_LARGE: 'RESPONSE_TOO_LARGE',
  /** Another connection subscribed with this connection's member id: the client reconnected elsewhere. */
  SUPERSEDED: 'SUPERSEDED',
  /** `payload.validate` for a group the broker knows nothing of on that topic: no subscription, no dead letter. */
  UNKNOWN_GROUP: 'UNKNOWN_GROUP',
  /** A backlog action on a connection whose hello did not carry the admin token. Not fatal. */
  FORBIDDEN: 'FORBIDDEN',
  /** `backlog.progress` for an operation the broker does not know (never started, or forgotten after an hour). */
  UNKNOWN_OPERATION: 'UNKNOWN_OPERATION',
  INTERNAL: 'INTERNAL',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];
