import type { DeadLetter } from '@reliable-mq/engine';
import { hiddenText, type PayloadRedactor, type Redaction } from '../redaction/payload-redactor';

/** A payload as the console shows it: pretty JSON when it parses, text when it is UTF-8, base64 otherwise. */
export interface PayloadView {
  encoding: 'json' | 'text' | 'base64';
  /** Pretty-printed JSON, the text, or base64; with the configured fields masked (see `redaction`). */
  text: string;
  /** The parsed value when `encoding` is `json`, masked like `text`. */
  json?: unknown;
  bytes: number;
  /** `fields`: the configured fields are masked; `hidden`: not JSON, so not shown; `none`: shown as it is. */
  redaction: Redaction;
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

/**
 * How a payload is shown. Pass the redactor unless the viewer was allowed to reveal it: then the configured fields
 * are masked, and a payload that is not JSON is hidden whole.
 */
export function payloadView(body: Buffer, redactor?: PayloadRedactor): PayloadView {
  const text = body.toString('utf8');
  const bytes = body.length;
  const masking = redactor?.active === true;
  if (!Buffer.from(text, 'utf8').equals(body)) {
    return masking
      ? { encoding: 'base64', text: hiddenText(bytes), bytes, redaction: 'hidden' }
      : { encoding: 'base64', text: body.toString('base64'), bytes, redaction: 'none' };
  }
  if (masking) {
    const shown = redactor.maskText(text);
    return shown.redaction === 'hidden'
      ? { encoding: 'text', text: shown.text, bytes, redaction: 'hidden' }
      : { encoding: 'json', text: shown.text, json: shown.json, bytes, redaction: 'fields' };
  }
  try {
    const json = JSON.parse(text) as unknown;
    return { encoding: 'json', text: JSON.stringify(json, null, 2), json, bytes, redaction: 'none' };
  } catch {
    return { encoding: 'text', text, bytes, redaction: 'none' };
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
