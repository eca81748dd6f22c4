import type { SerializedMessage } from '../producing/message-serializer';
import type { TransportMessage } from '../transport/transport.interface';
import type { OutboxMessage, OutboxStatus } from './outbox-message.entity';

/** Columns the publisher writes; the others start NULL (or are generated, like `seq`). */
export const OUTBOX_INSERT_COLUMNS = [
  'id',
  'producer_group',
  'topic',
  'msg_key',
  'tags',
  'headers',
  'payload',
  'status',
  'attempts',
  'next_attempt_at',
  'deliver_at',
  'created_at',
] as const;

export type OutboxInsertValue = string | number | null;

/** Values for OUTBOX_INSERT_COLUMNS, in that order. */
export function outboxInsertValues(
  message: SerializedMessage,
  producerGroup: string,
  now: number,
): OutboxInsertValue[] {
  return [
    message.id,
    producerGroup,
    message.topic,
    message.key,
    message.tags.length === 0 ? null : JSON.stringify(message.tags),
    JSON.stringify(message.headers),
    message.payload,
    'pending',
    0,
    // Due at once even when delayed: the broker holds delayed messages, so the outbox only has to hand them over.
    now,
    message.deliverAt,
    now,
  ];
}

const toNumber = (value: unknown): number => (typeof value === 'number' ? value : Number(value));
const toNullableNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : toNumber(value);
const toNullableString = (value: unknown): string | null =>
  value === null || value === undefined ? null : String(value);

/** Maps a row read with raw SQL (snake_case, BIGINT possibly as string) to the entity's shape. */
export function outboxRowFromRaw(raw: Record<string, unknown>): OutboxMessage {
  return {
    seq: toNumber(raw.seq),
    id: String(raw.id),
    producerGroup: String(raw.producer_group),
    topic: String(raw.topic),
    key: toNullableString(raw.msg_key),
    tags: toNullableString(raw.tags),
    headers: String(raw.headers),
    payload: String(raw.payload),
    status: String(raw.status) as OutboxStatus,
    attempts: toNumber(raw.attempts),
    nextAttemptAt: toNumber(raw.next_attempt_at),
    deliverAt: toNullableNumber(raw.deliver_at),
    createdAt: toNumber(raw.created_at),
    sentAt: toNullableNumber(raw.sent_at),
    leaseOwner: toNullableString(raw.lease_owner),
    leaseUntil: toNullableNumber(raw.lease_until),
    lastError: toNullableString(raw.last_error),
  };
}

/** What the relay hands to the transport: same id, so a resend after a lost confirm is deduplicated by the broker. */
export function outboxRowToTransportMessage(
  row: Pick<OutboxMessage, 'id' | 'topic' | 'key' | 'tags' | 'headers' | 'payload' | 'deliverAt'>,
): TransportMessage {
  const message: TransportMessage = {
    id: row.id,
    topic: row.topic,
    headers: JSON.parse(row.headers) as Record<string, string>,
    body: Buffer.from(row.payload, 'utf8'),
  };
  if (row.key !== null) message.key = row.key;
  if (row.tags !== null) message.tags = JSON.parse(row.tags) as string[];
  if (row.deliverAt !== null) message.deliverAt = row.deliverAt;
  return message;
}
