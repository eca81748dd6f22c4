/** What a log line names of the message it is about. */
export interface LoggedMessage {
  id: string;
  topic: string;
  /** The consumer group, on the consuming side. */
  group?: string;
  key?: string | null;
  /** The message's headers, from which the trace id of its creation is read (`traceparent`). */
  headers?: Readonly<Record<string, string>> | string | null;
}

const BARE = /^[\w.:%@/+-]+$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

/**
 * ` [message=<id> topic=<topic> group=<group> key=<key> trace=<trace id>]`, the same suffix on every framework log line
 * about a message, so that an operator can search the log (text or JSON) for a message id, a key or a trace id and
 * find every line about it. The trace id is the one the message was created in, read from its `traceparent` header
 * without any tracing library. A value with spaces, quotes or brackets is written in double quotes; its control
 * characters are left to the logger, which escapes them (EscapingLogger).
 */
export function messageLogFields(message: LoggedMessage): string {
  let fields = `message=${value(message.id)} topic=${value(message.topic)}`;
  if (message.group !== undefined) fields += ` group=${value(message.group)}`;
  if (message.key !== undefined && message.key !== null) fields += ` key=${value(message.key)}`;
  const trace = traceIdOf(message.headers);
  if (trace !== undefined) fields += ` trace=${trace}`;
  return ` [${fields}]`;
}

function value(text: string): string {
  return BARE.test(text) ? text : `"${text.replace(/["\\]/g, '\\$&')}"`;
}

function traceIdOf(headers: LoggedMessage['headers']): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  let traceparent: unknown;
  if (typeof headers === 'string') {
    // An outbox row keeps its headers as JSON text; reading them costs a parse, only on the lines that need it.
    try {
      traceparent = (JSON.parse(headers) as Record<string, unknown>).traceparent;
    } catch {
      return undefined;
    }
  } else {
    traceparent = headers.traceparent;
  }
  if (typeof traceparent !== 'string') return undefined;
  const match = TRACEPARENT.exec(traceparent);
  return match && match[1] !== '00000000000000000000000000000000' ? match[1] : undefined;
}

/** Messages named on one line at most; the rest are counted. */
const LISTED = 5;

/** `messageLogFields` of each message, up to five, then how many more: for lines about a batch. */
export function messagesLogFields(messages: readonly LoggedMessage[]): string {
  const listed = messages.slice(0, LISTED).map(messageLogFields).join('');
  return messages.length > LISTED ? `${listed} and ${messages.length - LISTED} more` : listed;
}
