import {
  DeadLetterNotFoundError,
  InvalidArgumentError,
  checkEditedHeaders,
  dlqTopicOf,
  type DeadLetter,
  type DeadLetterPage,
  type DeadLetterQuery,
  type DeadLetterStatus,
  type ResendEdit,
} from '@reliable-mq/engine';
import type { Channel, GetMessage } from 'amqplib';
import { createHash } from 'node:crypto';
import type { DeadLetterOperations } from '../transport.interface';
import type { ConfirmPublisher } from './confirm-publisher';
import type { RabbitMqConnection } from './rabbitmq-connection';
import {
  H,
  HEADER_LAST_ERROR,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RECONSUME_TIMES,
  HEADER_RESENT_FROM,
  allHeaders,
  copyOf,
  headerNumber,
  headerText,
  tagsOf,
  visibleHeaders,
} from './rabbitmq-message.codec';
import type { RabbitMqNames } from './rabbitmq-names';
import type { RabbitMqTopology } from './rabbitmq-topology';
import { bounded } from './bounded';

const MAX_PAGE = 1000;
/** How long a DLQ operation waits for RabbitMQ to come back before it fails. */
const OPERATION_WAIT_MS = 5000;
const MAX_BATCH = 1000;
const STATUSES: ReadonlyArray<DeadLetterStatus | 'any'> = ['dead', 'resent', 'discarded', 'any'];

interface HeldLetter {
  letter: DeadLetter;
  message: GetMessage;
  channel: Channel;
}

/** @internal */
export interface DeadLetterDeps {
  connection: RabbitMqConnection;
  topology: RabbitMqTopology;
  publisher: ConfirmPublisher;
  names: RabbitMqNames;
  scanLimit: number;
  /** Groups whose DLQ a query without `group`, `get`, `resend` and `discard` look at. */
  knownGroups(): Iterable<string>;
  /** Remembers a group named in a query. */
  rememberGroup(group: string): void;
}

/**
 * The DLQ operations on RabbitMQ, where a group's DLQ is a quorum queue (`<prefix>.dlq:<group>`), and resent or
 * discarded letters move to the group's audit queue (`<prefix>.dlq-audit:<group>`).
 *
 * A queue cannot be searched or changed in place, so every operation reads the group's queue from the start with
 * `basic.get` (holding each message unacked), works on what it read, and closes its channel, which gives every
 * message it did not settle back to the queue. Costs: each operation reads the whole queue (up to `scanLimit`
 * letters) and moves it over the network; while it runs, another operation sees only the letters it does not
 * hold; each read raises the letters' delivery count (harmless: DLQs have no delivery limit). A letter is settled
 * by publishing its resend or audit copy with confirms and only then acking it, so a crash in between leaves it
 * listed (a resend may then happen twice; dedup absorbs it).
 */
export class RabbitMqDeadLetters implements DeadLetterOperations {
  /** @internal The transport builds it; applications reach it through `transport.deadLetters`. */
  constructor(private readonly deps: DeadLetterDeps) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetterPage> {
    const status = query.status ?? 'dead';
    if (!STATUSES.includes(status)) {
      throw new InvalidArgumentError(`status must be dead, resent, discarded or any; got ${JSON.stringify(status)}.`);
    }
    const limit = query.limit ?? 100;
    const offset = query.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new InvalidArgumentError(`limit must be an integer from 1 to ${MAX_PAGE}; got ${limit}.`);
    }
    if (!Number.isInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(`offset must be a non-negative integer; got ${offset}.`);
    }
    if (query.group !== undefined) this.deps.rememberGroup(query.group);
    const groups = query.group !== undefined ? [query.group] : [...new Set(this.deps.knownGroups())];
    const letters: DeadLetter[] = [];
    for (const group of groups) {
      if (status === 'dead' || status === 'any')
        letters.push(...(await this.read(this.deps.names.deadLetterQueue(group), group)));
      if (status !== 'dead') letters.push(...(await this.read(this.deps.names.auditQueue(group), group)));
    }
    const matching = letters.filter((letter) => matches(letter, query, status));
    matching.sort((a, b) => b.deadAt - a.deadAt || b.id - a.id);
    return { total: matching.length, items: matching.slice(offset, offset + limit) };
  }

  async get(id: number): Promise<DeadLetter | undefined> {
    for (const group of new Set(this.deps.knownGroups())) {
      for (const queue of [this.deps.names.deadLetterQueue(group), this.deps.names.auditQueue(group)]) {
        const found = (await this.read(queue, group)).find((letter) => letter.id === id);
        if (found) return found;
      }
    }
    return undefined;
  }

  async resend(ids: readonly number[], edit: ResendEdit = {}): Promise<number[]> {
    checkIds(ids);
    const body = edit.body === undefined ? undefined : Buffer.from(edit.body as Uint8Array | string);
    checkEditedHeaders(edit.headers);
    return this.settle(ids, async (held) => {
      const { letter, message } = held;
      const returnQueue =
        headerText(message.properties.headers?.[H.returnQueue]) ??
        headerText(message.properties.headers?.['x-first-death-queue']);
      if (!returnQueue)
        throw new InvalidArgumentError(
          `Dead letter ${letter.id} does not say which queue it came from; it cannot be resent.`,
        );
      const headers: Record<string, string> = {
        ...privateHeaders(message),
        ...(edit.headers ?? letter.headers),
        [HEADER_ORIGIN_TOPIC]: letter.topic,
        [HEADER_ORIGINAL_ID]: letter.originalMessageId,
        [HEADER_RECONSUME_TIMES]: '0',
        [HEADER_RESENT_FROM]: String(letter.id),
        // It joins the queue's tail now: the backlog's age counts from here, not from its first publish.
        [H.queuedAt]: String(Date.now()),
      };
      const copy = copyOf(message, {}, body ?? message.content);
      copy.options.headers = headers;
      // Straight to the group's own work queue: only that group sees it again.
      await this.deps.publisher.publish([{ exchange: '', routingKey: returnQueue, ...copy }]);
      await this.audit(held, 'resent', null);
    });
  }

  async discard(ids: readonly number[], reason: string): Promise<number[]> {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new InvalidArgumentError('Discarding dead letters needs a non-empty reason.');
    }
    checkIds(ids);
    return this.settle(ids, (held) => this.audit(held, 'discarded', reason));
  }

  /** Finds every id among the known groups' dead letters (all of them, or nothing is done), then settles each. */
  private async settle(ids: readonly number[], action: (held: HeldLetter) => Promise<void>): Promise<number[]> {
    const wanted = new Set(ids);
    const found = new Map<number, HeldLetter>();
    const channels: Channel[] = [];
    try {
      for (const group of new Set(this.deps.knownGroups())) {
        if (found.size === wanted.size) break;
        const channel = await this.openChannel();
        channels.push(channel);
        for (const message of await this.drain(channel, this.deps.names.deadLetterQueue(group))) {
          const letter = toLetter(message, group, 'dead');
          if (wanted.has(letter.id) && !found.has(letter.id)) found.set(letter.id, { letter, message, channel });
        }
      }
      for (const id of ids) if (!found.has(id)) throw new DeadLetterNotFoundError(id, 'dead');
      const done: number[] = [];
      for (const id of ids) {
        const held = found.get(id)!;
        await action(held);
        held.channel.ack(held.message);
        done.push(id);
      }
      return done;
    } finally {
      // Closing gives back every letter read but not settled.
      for (const channel of channels) await bounded(channel.close(), 2000);
    }
  }

  private async audit(held: HeldLetter, status: 'resent' | 'discarded', reason: string | null): Promise<void> {
    const copy = copyOf(held.message, {
      [H.status]: status,
      [H.statusReason]: reason ?? '',
      [H.statusAt]: String(Date.now()),
      [H.dlqId]: String(held.letter.id),
      [H.dlqGroup]: held.letter.group,
      [H.deadAt]: String(held.letter.deadAt),
    });
    await this.deps.topology.ensureDeadLetterQueues(held.letter.group);
    await this.deps.publisher.publish([
      { exchange: '', routingKey: this.deps.names.auditQueue(held.letter.group), ...copy },
    ]);
  }

  /** Reads a queue's letters without taking them. */
  private async read(queue: string, group: string): Promise<DeadLetter[]> {
    const channel = await this.openChannel();
    try {
      const status: DeadLetterStatus | undefined =
        queue === this.deps.names.deadLetterQueue(group) ? 'dead' : undefined;
      return (await this.drain(channel, queue)).map((message) => toLetter(message, group, status));
    } finally {
      await bounded(channel.close(), 2000);
    }
  }

  private async openChannel(): Promise<Channel> {
    // An operator's request waits a little for a reconnection rather than failing at once.
    const model = await this.deps.connection.whenUp(OPERATION_WAIT_MS);
    const channel = await model.createChannel();
    channel.on('error', () => undefined);
    return channel;
  }

  /** Every message of the queue (up to the scan limit), held unacked on `channel`. A missing queue is empty. */
  private async drain(channel: Channel, queue: string): Promise<GetMessage[]> {
    const messages: GetMessage[] = [];
    try {
      while (messages.length < this.deps.scanLimit) {
        const message = await channel.get(queue, { noAck: false });
        if (message === false) break;
        messages.push(message);
      }
    } catch (error) {
      if (/NOT[-_]FOUND|\b404\b/.test(String((error as Error).message))) return [];
      throw error;
    }
    return messages;
  }
}

function checkIds(ids: readonly number[]): void {
  if (!Array.isArray(ids) || ids.length === 0 || ids.some((id) => !Number.isInteger(id))) {
    throw new InvalidArgumentError('Pass a non-empty array of dead-letter ids (integers).');
  }
  if (ids.length > MAX_BATCH) throw new InvalidArgumentError(`At most ${MAX_BATCH} dead letters per call.`);
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError('The dead-letter ids must be distinct.');
}

function matches(letter: DeadLetter, query: DeadLetterQuery, status: DeadLetterStatus | 'any'): boolean {
  if (status !== 'any' && letter.status !== status) return false;
  if (query.group !== undefined && letter.group !== query.group) return false;
  if (query.topic !== undefined && letter.topic !== query.topic) return false;
  if (query.key !== undefined && letter.key !== query.key) return false;
  if (
    query.messageId !== undefined &&
    letter.messageId !== query.messageId &&
    letter.originalMessageId !== query.messageId
  )
    return false;
  if (query.reasonContains !== undefined && !letter.reason.includes(query.reasonContains)) return false;
  if (query.from !== undefined && letter.deadAt < query.from) return false;
  if (query.to !== undefined && letter.deadAt >= query.to) return false;
  return true;
}

/** The transport's own headers of a letter that a resent copy keeps (topic, key, tags, birth time). */
function privateHeaders(message: GetMessage): Record<string, string> {
  const all = allHeaders(message);
  const kept: Record<string, string> = {};
  for (const name of [H.topic, H.key, H.tags, H.bornAt]) if (all[name] !== undefined) kept[name] = all[name]!;
  return kept;
}

interface DeathRecord {
  reason?: unknown;
  queue?: unknown;
  time?: { value?: unknown } | unknown;
  count?: unknown;
}

/** Letters the broker dead-lettered itself (delivery limit) carry no id of ours: derive a stable one. */
function derivedId(message: GetMessage, death: DeathRecord | undefined): number {
  const seed = `${String(message.properties.messageId)}|${String(death?.queue)}|${JSON.stringify(death?.time)}`;
  const id = Number(BigInt(`0x${createHash('sha256').update(seed).digest('hex').slice(0, 14)}`) & ((1n << 53n) - 1n));
  return id === 0 ? 1 : id;
}

function deathTime(death: DeathRecord | undefined): number | undefined {
  const time = death?.time as { value?: unknown } | number | undefined;
  const seconds = typeof time === 'number' ? time : Number((time as { value?: unknown } | undefined)?.value);
  return Number.isFinite(seconds) ? seconds * 1000 : undefined;
}

function toLetter(message: GetMessage, group: string, forced: DeadLetterStatus | undefined): DeadLetter {
  const headers = message.properties.headers ?? {};
  const deaths = headers['x-death'] as DeathRecord[] | undefined;
  const death = Array.isArray(deaths) ? deaths[0] : undefined;
  const ours = headerNumber(headers, H.dlqId);
  const id = ours ?? derivedId(message, death);
  const originalMessageId = headerText(headers[HEADER_ORIGINAL_ID]) ?? headerText(message.properties.messageId) ?? '';
  const reconsumeTimes = headerNumber(headers, HEADER_RECONSUME_TIMES) ?? 0;
  const brokerReason = headerText(headers['x-first-death-reason']);
  const reason =
    ours !== undefined
      ? (headerText(headers[HEADER_LAST_ERROR]) ?? '')
      : `RabbitMQ dead-lettered it (${brokerReason ?? 'unknown reason'}): ` +
        (brokerReason === 'delivery_limit'
          ? 'it was delivered more than x-delivery-limit times without an ack (its consumers were lost before acking).'
          : 'see the x-death header.');
  const status = forced ?? (headerText(headers[H.status]) as DeadLetterStatus | undefined) ?? 'dead';
  const statusAt = headerNumber(headers, H.statusAt);
  const visible = visibleHeaders(message);
  return {
    id,
    dlqTopic: dlqTopicOf(group),
    group,
    topic: headerText(headers[HEADER_ORIGIN_TOPIC]) ?? headerText(headers[H.topic]) ?? '',
    messageId: originalMessageId,
    originalMessageId,
    key: headerText(headers[H.key]) ?? null,
    tags: tagsOf(message),
    headers: visible,
    body: message.content,
    reason,
    reconsumeTimes,
    bornAt: headerNumber(headers, H.bornAt) ?? 0,
    deadAt: headerNumber(headers, H.deadAt) ?? deathTime(death) ?? 0,
    status,
    statusReason: status === 'dead' ? null : headerText(headers[H.statusReason]) || null,
    statusAt: status === 'dead' ? null : (statusAt ?? null),
  };
}
