/** A message as stored in the `messages` table. */
export interface MessageRow {
  seq: number;
  topic: string;
  queue_id: number;
  queue_offset: number;
  message_id: string;
  key: string | null;
  tags: string | null;
  headers: string | null;
  body: Buffer;
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

export interface ScheduledRow {
  seq: number;
  message_id: string;
  topic: string;
  queue_id: number;
  key: string | null;
  tags: string | null;
  headers: string | null;
  body: Buffer;
  born_at: number;
  stored_at: number;
  expire_at: number | null;
  deliver_at: number;
}

export const encodeTags = (tags: readonly string[]): string | null => (tags.length === 0 ? null : JSON.stringify(tags));
export const decodeTags = (raw: string | null): string[] => (raw === null ? [] : (JSON.parse(raw) as string[]));
export const encodeHeaders = (headers: Record<string, string>): string | null =>
  Object.keys(headers).length === 0 ? null : JSON.stringify(headers);
export const decodeHeaders = (raw: string | null): Record<string, string> =>
  raw === null ? {} : (JSON.parse(raw) as Record<string, string>);
