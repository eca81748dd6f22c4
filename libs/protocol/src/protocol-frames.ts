import type { FrameType } from './protocol-constants';

/** A failure as it travels. `name` is the error class on the sending side; `details` its public fields. */
export interface WireError {
  code: string;
  message: string;
  name?: string;
  /** Set on errors after which the sender closes the connection. */
  fatal?: true;
  details?: Record<string, unknown>;
}

export interface RequestFrame {
  t: typeof FrameType.REQUEST;
  /** 0: a notification, never answered. */
  id: number;
  op: string;
  a?: unknown;
}

export interface ResponseFrame {
  t: typeof FrameType.RESPONSE;
  id: number;
  r?: unknown;
}

export interface ErrorFrame {
  t: typeof FrameType.ERROR;
  /** 0: about the connection as a whole. */
  id: number;
  e: WireError;
}

export interface EventFrame {
  t: typeof FrameType.EVENT;
  op: string;
  a?: unknown;
}

export type Frame = RequestFrame | ResponseFrame | ErrorFrame | EventFrame;

// ------------------------------------------------------------------ call arguments and results

export interface HelloArgs {
  protocol: number;
  token?: string;
  /** Free text for the server's log, e.g. `order-service@host:pid`. */
  client?: string;
  /** The client reads `deliver.batch` events. Added within version 1; absent, deliveries come one per event. */
  batching?: boolean;
}

export interface HelloResult {
  protocol: number;
  server: string;
  version: string;
  maxFrameBytes: number;
  /** How often the client should ping. */
  heartbeatMs: number;
  /** A connection silent for this long is closed by the server. */
  idleTimeoutMs: number;
  maxBatchSize: number;
  maxBodyBytes: number;
  /**
   * How long the broker waits for a member's answer to a forwarded `payload.validate`. Present when the broker has
   * that call; a client asks only a broker that announces it.
   */
  validateTimeoutMs?: number;
  /**
   * Present (true) when the broker has the backlog calls (`backlog.*`); `admin` says whether this connection's token
   * is the admin token, which the changing ones need.
   */
  backlogCalls?: boolean;
  admin?: boolean;
  /** Present (true) when the broker has `publish.batch` and `ack.batch`; it then sends `deliver.batch` to a client that asked. */
  batching?: boolean;
}

/** A message to publish or send as a half message. */
export interface WireMessage {
  id: string;
  topic: string;
  key?: string;
  tags?: string[];
  headers?: Record<string, string>;
  body: Uint8Array;
  deliverAt?: number;
}

export interface PublishArgs {
  messages: WireMessage[];
}

export interface WireConfirm {
  id: string;
  duplicate: boolean;
  queueId: number;
  /** -1 while a delayed message waits for its time. */
  offset: number;
  deliverAt?: number;
}

export interface PublishResult {
  confirms: WireConfirm[];
}

/** `publish.batch`: calls that are independent as if each were its own `publish`. */
export interface PublishBatchArgs {
  calls: PublishArgs[];
}

/** One answer per call of a `publish.batch`, in order: its confirms, or the error that failed it alone. */
export interface PublishBatchResult {
  results: Array<PublishResult | { error: WireError }>;
}

export interface SubscribeArgs {
  group: string;
  topic: string;
  tags?: string;
  mode: 'concurrent' | 'orderly';
  /** Credit: deliveries the server may push before the client acks or nacks one. */
  prefetch: number;
  maxReconsumeTimes: number;
  delayLevels?: string;
  startFrom?: 'latest' | 'earliest';
  memberId?: string;
  /** The member can answer `payload.validate` for this subscription (its handler's DTO or schema check). */
  validates?: boolean;
}

export interface SubscribeResult {
  sub: number;
  memberId: string;
}

export interface WireDelivery {
  sub: number;
  /** Names this delivery in `ack` / `nack`; unique on the connection. */
  tag: number;
  id: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  body: Uint8Array;
  attempt: number;
  bornAt: number;
}

export interface AckArgs {
  tag: number;
}

export interface AckBatchArgs {
  tags: number[];
}

export interface DeliverBatchArgs {
  deliveries: WireDelivery[];
}

export interface NackArgs {
  tag: number;
  /** The failure, recorded as the retry's last error and, at the end, the DLQ reason. */
  reason: string;
  nonRetryable?: boolean;
  /** Retry after this delay instead of the next delay level. */
  retryDelayMs?: number;
}

export interface CheckArgs {
  checker: number;
  half: WireHalfMessage;
}

/**
 * A half message as it travels in a checkback: the engine's half message (its `HalfMessage`), with the body as bytes,
 * which msgpack carries as bin. Written out here so that the protocol needs no engine; the engine's
 * `toWireHalfMessage` and `fromWireHalfMessage` convert, and tsc checks that their shape is assignable to this one.
 */
export interface WireHalfMessage {
  txId: string;
  messageId: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  body: Uint8Array;
  sentAt: number;
  state: 'unresolved' | 'committed' | 'rolled_back' | 'discarded';
  checkCount: number;
  nextCheckAt: number;
  reason: string | null;
  resolvedAt: number | null;
  resolvedBy: 'producer' | 'checkback' | 'operator' | null;
}

/** `payload.validate` from a client: would a live member of `group` on `topic` accept this body? */
export interface ValidatePayloadArgs {
  group: string;
  topic: string;
  /** The message body as it would be sent (UTF-8 JSON for JSON payloads). */
  payload: Uint8Array;
}

/** `payload.validate` from the server to the member holding subscription `sub`. */
export interface MemberValidateArgs {
  sub: number;
  payload: Uint8Array;
}

/** A member's answer; `handler` and `validation` describe what checked it, for display. */
export type MemberValidateResult = ({ valid: true } | { valid: false; errors: string[] }) & {
  handler?: string;
  validation?: string;
};

/** The broker's answer to `payload.validate`. `unavailable`: no member could check it, and `reason` says why. */
export type ValidatePayloadResult =
  | { status: 'valid'; memberId: string; handler?: string; validation?: string }
  | { status: 'invalid'; errors: string[]; memberId: string; handler?: string; validation?: string }
  | { status: 'unavailable'; reason: string };
