import type { Channel, ConsumeMessage, Message } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { bounded } from './bounded';
import type { ConfirmPublisher } from './confirm-publisher';
import type { RabbitMqConnection } from './rabbitmq-connection';
import { H, HEADER_RESENT_FROM, decodeMessage, headerNumber, headerText } from './rabbitmq-message.codec';
import type { RabbitMqNames } from './rabbitmq-names';
import type { RabbitMqTopology } from './rabbitmq-topology';

/** Marks a fence: a message the catch-up writes itself to find a point in the history or in a queue. */
const FENCE = 'x-rmq-fence';
/** `before` / `after` the group's queues were bound (in the history), or `queue` (in a work queue of the group). */
const FENCE_KIND = 'x-rmq-fence-kind';

const LOCK_POLL_MS = 250;
/** The position is saved after this many handled entries, or this long after the last save, whichever comes first. */
const SAVE_EVERY = 200;
const SAVE_INTERVAL_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True for a fence written by a catch-up; any consumer acks and skips it. */
export function isFence(message: Message): boolean {
  return headerText(message.properties.headers?.[FENCE]) !== undefined;
}

/** The token of a fence that a catch-up put into a work queue, or undefined. */
export function queueFenceToken(message: Message): string | undefined {
  if (headerText(message.properties.headers?.[FENCE_KIND]) !== 'queue') return undefined;
  return headerText(message.properties.headers?.[FENCE]);
}

/**
 * A message as the topic's exchange routed it, not a retry, deferral or resent copy coming back to the queue under
 * the same id: only such first copies can repeat an entry the catch-up delivered from the history.
 */
export function isFirstCopy(message: Message): boolean {
  const headers = message.properties.headers ?? {};
  return headers[H.retryQueue] === undefined && headers[H.returnQueue] === undefined && !headers[HEADER_RESENT_FROM];
}

/** Where an unfinished catch-up stands; saved as the only message of the group's `catchup-pending` queue. */
export interface CatchUpPosition {
  /** Names the two fences of this catch-up in the history. */
  token: string;
  /** Every history entry up to this offset was handled; null before the first save. */
  handled: number | null;
  /**
   * Offset of the fence written before the group's queues were bound; entries from there to the fence written after
   * the binding may also be in the group's queues. Null until the reader passes it; 0 when it is unknown (the window
   * then spans the whole history).
   */
  windowFrom: number | null;
  /** The furthest offset handed to the handler by an earlier attempt: entries up to it count as redelivered. */
  reached?: number | null;
}

export interface CatchUpDeps {
  connection: RabbitMqConnection;
  topology: RabbitMqTopology;
  publisher: ConfirmPublisher;
  names: RabbitMqNames;
  retentionMs: number;
}

/** Raised when the subscription closes during a catch-up; the catch-up resumes from its saved position later. */
export class CatchUpStopped extends Error {
  constructor() {
    super('The subscription closed during its catch-up from the history.');
    this.name = 'CatchUpStopped';
  }
}

/**
 * The catch-up of a clustering group that subscribes to a topic for the first time, from the topic's history stream,
 * so that it receives what was published before it existed, as on the engine. The steps, each safe to repeat:
 *
 * 1. One instance of the group at a time: the others wait on an exclusive queue (`catchup-lock`), deleted with the
 *    holder's connection if it dies.
 * 2. A durable marker queue (`catchup-pending`) is declared before the group's queues, and deleted once the catch-up
 *    is complete: its existence says "not caught up yet" to every instance, across crashes.
 * 3. A fence goes into the history, then the group's queues are declared and bound, then a second fence: whatever
 *    was routed before the binding is in the history before the second fence; whatever was routed after it is in
 *    the group's queues too. Entries between the fences may be in both: their ids form the window.
 * 4. The history is delivered up to the second fence through the subscription's handler path, in offset order per
 *    lane (per ordered queue for an orderly group), saving the position as it goes.
 * 5. The group's queues are consumed with the window's ids dropped, until a fence put into each queue after step 4
 *    comes out: a copy of a window entry was routed to the queue before that fence was written. Then the marker is
 *    deleted and the lock released.
 *
 * A crash resumes at the saved position: entries handled since the last save (at most `SAVE_EVERY`, or one second's
 * worth, plus those in flight) are delivered again.
 */
export class HistoryCatchUp {
  private lockChannel: Channel | null = null;
  /** The furthest offset handed to the handler by this instance, kept across attempts. */
  private reached = -1;
  private readonly marker: string;
  private readonly lockName: string;
  private readonly history: string;

  constructor(
    private readonly deps: CatchUpDeps,
    private readonly group: string,
    private readonly topic: string,
  ) {
    this.marker = deps.names.catchUpPending(group, topic);
    this.lockName = deps.names.catchUpLock(group, topic);
    this.history = deps.names.history(topic);
  }

  /** True when the group has no queue on the topic yet, or an earlier catch-up did not finish. */
  async needed(firstQueue: string): Promise<boolean> {
    const { topology } = this.deps;
    return (await topology.queueExists(this.marker)) || !(await topology.queueExists(firstQueue));
  }

  /** Takes the group's catch-up lock, waiting while another instance holds it. */
  async lock(stopped: () => boolean): Promise<void> {
    for (;;) {
      if (stopped()) throw new CatchUpStopped();
      const channel = await this.deps.connection.current().createChannel();
      channel.on('error', () => undefined);
      try {
        await channel.assertQueue(this.lockName, {
          exclusive: true,
          durable: false,
          autoDelete: true,
          arguments: { 'x-queue-type': 'classic' },
        });
        this.lockChannel = channel;
        return;
      } catch (error) {
        await bounded(channel.close(), 2000);
        if (!/RESOURCE[-_]LOCKED|\b405\b/.test(String((error as Error).message))) throw error;
      }
      await sleep(LOCK_POLL_MS);
    }
  }

  async unlock(): Promise<void> {
    const channel = this.lockChannel;
    this.lockChannel = null;
    if (!channel) return;
    // On a dead connection the lock went with it.
    await bounded(channel.deleteQueue(this.lockName), 2000);
    await bounded(channel.close(), 2000);
  }

  /**
   * Under the lock: null when the group is caught up already (another instance finished), else the position to read
   * from, after writing the fences around `bind` (which declares and binds the group's queues).
   */
  async begin(firstQueue: string, bind: () => Promise<void>): Promise<CatchUpPosition | null> {
    const { topology } = this.deps;
    const pending = await topology.queueExists(this.marker);
    const exists = await topology.queueExists(firstQueue);
    if (exists && !pending) return null;
    await topology.ensureCatchUpMarker(this.group, this.topic);
    let position = pending ? await this.load() : null;
    if (!exists) {
      position = { token: randomUUID(), handled: null, windowFrom: null };
      await this.save(position);
      await this.fence('before', position.token);
    } else if (!position) {
      // Queues exist but no position was saved: which of their messages the history repeats is unknown.
      position = { token: randomUUID(), handled: null, windowFrom: 0 };
      await this.save(position);
    }
    await bind();
    // A fence after every binding: a catch-up resumed after a crash during the binding binds again first.
    await this.fence('after', position.token);
    return position;
  }

  /**
   * Hands every history entry from the saved position up to the first `after` fence of this catch-up to `deliver`,
   * `lane` by `lane` in offset order, and resolves with the ids of the window (see the class comment). `deliver`
   * acks on the channel it is given, which must never see a nack: RabbitMQ closes the whole connection for a nack on
   * a stream.
   */
  async read(
    position: CatchUpPosition,
    deliver: (message: ConsumeMessage, channel: Channel, redelivered: boolean) => Promise<boolean>,
    laneOf: (message: ConsumeMessage) => string,
    stopped: () => boolean,
    prefetch: number,
  ): Promise<{ window: Set<string>; delivered: number }> {
    const channel = await this.deps.connection.current().createChannel();
    channel.on('error', () => undefined);
    try {
      return await this.readOn(channel, position, deliver, laneOf, stopped, prefetch);
    } finally {
      await bounded(channel.close(), 2000);
    }
  }

  private readOn(
    channel: Channel,
    position: CatchUpPosition,
    deliver: (message: ConsumeMessage, channel: Channel, redelivered: boolean) => Promise<boolean>,
    laneOf: (message: ConsumeMessage) => string,
    stopped: () => boolean,
    prefetch: number,
  ): Promise<{ window: Set<string>; delivered: number }> {
    const window = new Set<string>();
    const redeliveredUpTo = Math.max(this.reached, position.reached ?? -1);
    const cutoff = Date.now() - this.deps.retentionMs;
    const start =
      position.handled === null
        ? 'first'
        : position.windowFrom === null
          ? position.handled + 1
          : Math.min(position.handled + 1, position.windowFrom);
    // Offsets in the order received, and which of them are settled: the saved position is the contiguous prefix.
    const order: number[] = [];
    const settled = new Set<number>();
    const lanes = new Map<string, Promise<void>>();
    let head = 0;
    let end: number | null = null;
    let delivered = 0;
    let savedAt = Date.now();
    let savedHandled = position.handled;
    let saving: Promise<void> | null = null;
    let finished = false;

    return new Promise((resolve, reject) => {
      const fail = (error: unknown): void => {
        if (finished) return;
        finished = true;
        clearInterval(watch);
        reject(error instanceof Error ? error : new Error(String(error)));
      };
      const persist = (): void => {
        if (saving || position.handled === savedHandled) return;
        const snapshot = { ...position };
        saving = this.save(snapshot).then(
          () => {
            saving = null;
            savedHandled = snapshot.handled;
            savedAt = Date.now();
            maybeFinish();
          },
          (error: unknown) => fail(error),
        );
      };
      const maybeFinish = (): void => {
        if (finished || end === null || head < order.length || saving) return;
        if (position.handled !== savedHandled) return persist();
        finished = true;
        clearInterval(watch);
        resolve({ window, delivered });
      };
      const done = (offset: number): void => {
        settled.add(offset);
        while (head < order.length && settled.has(order[head]!)) {
          settled.delete(order[head]!);
          position.handled = order[head]!;
          head++;
        }
        if (head > 4096) {
          order.splice(0, head);
          head = 0;
        }
        const due = (position.handled ?? -1) - (savedHandled ?? -1) >= SAVE_EVERY;
        if (due || Date.now() - savedAt >= SAVE_INTERVAL_MS || end !== null) persist();
        maybeFinish();
      };
      const ack = (message: ConsumeMessage): void => {
        try {
          channel.ack(message);
        } catch {
          // The channel closed: the read fails through its close event.
        }
      };
      const watch = setInterval(() => {
        if (stopped()) fail(new CatchUpStopped());
        else if (Date.now() - savedAt >= SAVE_INTERVAL_MS) persist();
      }, 100);
      channel.once('close', () => fail(new Error(`the channel reading ${this.history} closed`)));

      const onEntry = (message: ConsumeMessage | null): void => {
        if (message === null) return fail(new Error(`RabbitMQ cancelled the reader of ${this.history}`));
        if (finished || end !== null) return;
        const offset = headerNumber(message.properties.headers, 'x-stream-offset');
        if (offset === undefined) return fail(new Error(`an entry of ${this.history} has no x-stream-offset`));
        order.push(offset);
        if (isFence(message)) {
          const token = headerText(message.properties.headers?.[FENCE]);
          const kind = headerText(message.properties.headers?.[FENCE_KIND]);
          if (token === position.token && kind === 'before' && position.windowFrom === null) {
            position.windowFrom = offset;
          }
          if (token === position.token && kind === 'after') end = offset;
          ack(message);
          done(offset);
          return;
        }
        if (position.windowFrom !== null && offset >= position.windowFrom) window.add(decodeMessage(message).id);
        const born = headerNumber(message.properties.headers, H.bornAt);
        if ((position.handled !== null && offset <= position.handled) || (born !== undefined && born < cutoff)) {
          ack(message);
          done(offset);
          return;
        }
        this.reached = Math.max(this.reached, offset);
        position.reached = this.reached;
        const lane = laneOf(message);
        const next = (lanes.get(lane) ?? Promise.resolve()).then(async () => {
          if (finished) return;
          // The handler path acks what it settles; an entry it could not settle stays unacked.
          const ok = await deliver(message, channel, offset <= redeliveredUpTo).catch(() => false);
          if (!ok) return fail(new Error('a history entry could not be settled; the catch-up resumes'));
          delivered++;
          done(offset);
        });
        lanes.set(lane, next);
        void next.finally(() => {
          if (lanes.get(lane) === next) lanes.delete(lane);
        });
      };

      void (async () => {
        // Streams need a prefetch; acks only give credit back. It bounds the entries in flight at once.
        await channel.prefetch(prefetch, false);
        await channel.consume(this.history, onEntry, { noAck: false, arguments: { 'x-stream-offset': start } });
      })().catch(fail);
    });
  }

  /** Puts a fence into each of the group's queues; the catch-up ends once every one of them came out. */
  async fenceQueues(queues: readonly string[], token: string): Promise<void> {
    await this.deps.publisher.publish(
      queues.map((queue) => ({
        exchange: '',
        routingKey: queue,
        content: Buffer.alloc(0),
        options: { persistent: true, mandatory: true, headers: { [FENCE]: token, [FENCE_KIND]: 'queue' } },
      })),
    );
  }

  /** The catch-up is complete: every instance of the group may consume its queues from now on. */
  async finish(): Promise<void> {
    await this.deps.topology.deleteQueue(this.marker);
  }

  private async fence(kind: 'before' | 'after', token: string): Promise<void> {
    await this.deps.publisher.publish([
      {
        exchange: '',
        routingKey: this.history,
        content: Buffer.alloc(0),
        options: { persistent: true, mandatory: true, headers: { [FENCE]: token, [FENCE_KIND]: kind } },
      },
    ]);
  }

  private async save(position: CatchUpPosition): Promise<void> {
    await this.deps.publisher.publish([
      {
        exchange: '',
        routingKey: this.marker,
        content: Buffer.from(JSON.stringify(position)),
        options: { persistent: true, mandatory: true, contentType: 'application/json' },
      },
    ]);
  }

  /** The saved position, read without taking it off the marker queue. */
  private async load(): Promise<CatchUpPosition | null> {
    const channel = await this.deps.connection.current().createChannel();
    channel.on('error', () => undefined);
    try {
      const message = await channel.get(this.marker, { noAck: false });
      if (message === false) return null;
      channel.nack(message, false, true);
      const parsed = JSON.parse(message.content.toString('utf8')) as Partial<CatchUpPosition>;
      if (typeof parsed.token !== 'string') return null;
      return {
        token: parsed.token,
        handled: typeof parsed.handled === 'number' ? parsed.handled : null,
        windowFrom: typeof parsed.windowFrom === 'number' ? parsed.windowFrom : null,
        reached: typeof parsed.reached === 'number' ? parsed.reached : null,
      };
    } finally {
      await bounded(channel.close(), 2000);
    }
  }
}
