/** The columns of a message that every table holding one stores alike (messages, scheduled, half messages). */
export interface StoredMessageColumns {
  message_id: string;
  topic: string;
  key: string | null;
  tags: string | null;
  headers: string | null;
  body: Buffer;
}

/** A message as stored in the `messages` table. */
export interface MessageRow extends StoredMessageColumns {
  seq: number;
  queue_id: number;
  queue_offset: number;
  born_at: number;
  stored_at: number;
  expire_at: number | null;
}

/** What a writer supplies; position and storage time are assigned on insert. */
export interface NewMessage {
  messageId: string;
  topic: string;
  key: string | null;
  tags: string | null;
  headers: string | null;
  body: Buffer;
  bornAt: number;
  expireAt: number | null;
}

/** A message as stored in the `scheduled` table until it is due. */
export interface ScheduledRow extends StoredMessageColumns {
  seq: number;
  queue_id: number;
  born_at: number;
  stored_at: number;
  expire_at: number | null;
  deliver_at: number;
}

/** A stored message as a message to write again (into a queue, a retry topic), with the given timing. */
export function newMessageOf(row: StoredMessageColumns, bornAt: number, expireAt: number | null): NewMessage {
  return {
    messageId: row.message_id,
    topic: row.topic,
    key: row.key,
    tags: row.tags,
    headers: row.headers,
    body: row.body,
    bornAt,
    expireAt,
  };
}

export const encodeTags = (tags: readonly string[]): string | null => (tags.length === 0 ? null : JSON.stringify(tags));
export const decodeTags = (raw: string | null): string[] => (raw === null ? [] : (JSON.parse(raw) as string[]));
export const encodeHeaders = (headers: Record<string, string>): string | null =>
  Object.keys(headers).length === 0 ? null : JSON.stringify(headers);
export const decodeHeaders = (raw: string | null): Record<string, string> =>
  raw === null ? {} : (JSON.parse(raw) as Record<string, string>);
