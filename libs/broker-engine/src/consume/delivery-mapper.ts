import type { Delivery } from '../engine.types';
import { HEADER_ORIGIN_TOPIC, HEADER_ORIGINAL_ID, HEADER_RECONSUME_TIMES } from '../headers';
import { decodeHeaders, decodeTags, type MessageRow } from '../storage/message-row';

export function originTopicOf(row: MessageRow): string {
  return decodeHeaders(row.headers)[HEADER_ORIGIN_TOPIC] ?? row.topic;
}

export function reconsumeTimesOf(row: MessageRow): number {
  const raw = decodeHeaders(row.headers)[HEADER_RECONSUME_TIMES];
  const value = raw === undefined ? 0 : Number(raw);
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

export function toDelivery(row: MessageRow, deliveryCount: number): Delivery {
  const headers = decodeHeaders(row.headers);
  return {
    messageId: row.message_id,
    originalMessageId: headers[HEADER_ORIGINAL_ID] ?? row.message_id,
    topic: headers[HEADER_ORIGIN_TOPIC] ?? row.topic,
    sourceTopic: row.topic,
    queueId: row.queue_id,
    queueOffset: row.queue_offset,
    key: row.key,
    tags: decodeTags(row.tags),
    headers,
    body: row.body,
    bornAt: row.born_at,
    reconsumeTimes: reconsumeTimesOf(row),
    deliveryCount,
  };
}
