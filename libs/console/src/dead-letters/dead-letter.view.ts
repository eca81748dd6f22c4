import type { DeadLetter } from '@reliable-mq/engine';

/** A payload as the console shows it: pretty JSON when it parses, text when it is UTF-8, base64 otherwise. */
export interface PayloadView {
  encoding: 'json' | 'text' | 'base64';
  /** Pretty-printed JSON, the text, or base64. */
  text: string;
  /** The parsed value when `encoding` is `json`. */
  json?: unknown;
  bytes: number;
}

export interface DeadLetterSummary {
  id: number;
  group: string;
  topic: string;
  key: string | null;
  messageId: string;
  originalMessageId: string;
  status: 'dead' | 'resent' | 'discarded';
  /** The last error, cut to 300 characters in lists; complete in the detail. */
  reason: string;
  /** Failed deliveries before the message was dead-lettered. */
  reconsumeTimes: number;
  bornAt: number;
  deadAt: number;
  statusReason: string | null;
  statusAt: number | null;
  /** Since the message was first published. */
  ageMs: number;
  /** Null when the group's dedup records never expire. */
  dedupWindowMs: number | null;
  /** Retrying it needs `confirmDedupWindow`: its dedup record may be gone, and the handler would run again. */
  olderThanDedupWindow: boolean;
}

export interface DeadLetterDetail extends DeadLetterSummary {
  dlqTopic: string;
  tags: string[];
  headers: Record<string, string>;
  payload: PayloadView;
  /** What an edited payload is validated against: `dto:<Class>`, `schema` or `none`. */
  validation: string;
  handler: string | null;
  /** Every time this message (same original id) was dead-lettered, oldest first, this one included. */
  history: DeadLetterSummary[];
}

export function payloadView(body: Buffer): PayloadView {
  const text = body.toString('utf8');
  const bytes = body.length;
  if (!Buffer.from(text, 'utf8').equals(body)) return { encoding: 'base64', text: body.toString('base64'), bytes };
  try {
    const json = JSON.parse(text) as unknown;
    return { encoding: 'json', text: JSON.stringify(json, null, 2), json, bytes };
  } catch {
    return { encoding: 'text', text, bytes };
  }
}

export function summaryOf(
  letter: DeadLetter,
  now: number,
  dedupWindowMs: number | null,
  fullReason = false,
): DeadLetterSummary {
  const ageMs = Math.max(0, now - letter.bornAt);
  return {
    id: letter.id,
    group: letter.group,
    topic: letter.topic,
    key: letter.key,
    messageId: letter.messageId,
    originalMessageId: letter.originalMessageId,
    status: letter.status,
    reason: fullReason || letter.reason.length <= 300 ? letter.reason : `${letter.reason.slice(0, 299)}…`,
    reconsumeTimes: letter.reconsumeTimes,
    bornAt: letter.bornAt,
    deadAt: letter.deadAt,
    statusReason: letter.statusReason,
    statusAt: letter.statusAt,
    ageMs,
    dedupWindowMs,
    olderThanDedupWindow: dedupWindowMs !== null && ageMs > dedupWindowMs,
  };
}
