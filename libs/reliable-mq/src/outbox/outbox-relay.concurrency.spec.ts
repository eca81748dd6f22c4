import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import { createOutboxStore } from './create-outbox-store';
import type { OutboxMessage } from './outbox-message.entity';
import { OutboxRelay } from './outbox-relay';
import type { ClaimRequest, ClaimedRow, FailureMark, OutboxStore } from './outbox-store.interface';
import { DelegatingOutboxStore } from '../../test/delegating-outbox-store';
import {
  FakeTransport,
  MemoryLogger,
  PublishRecorder,
  TestDatabase,
  waitFor,
} from '../../../../test/support/outbox-test-kit';

const RELAYS = 3;
const ROWS = 2_000;
const KEYS = 50;
const LEASE_MS = 1_000;
/** Date.now() and performance.now() are compared below; they may drift by a millisecond or so. */
const CLOCK_TOLERANCE_MS = 5;

interface Claim {
  id: string;
  relay: string;
  at: number;
  releasedAt: number;
}

/** Delegates to the real store and notes, in performance.now() time, when each row was claimed and let go. */
class RecordingStore extends DelegatingOutboxStore {
  constructor(
    inner: OutboxStore,
    private readonly relay: string,
    private readonly claims: Claim[],
  ) {
    super(inner);
  }

  private readonly open = new Map<number, Claim>();

  override async claim(request: ClaimRequest): Promise<ClaimedRow[]> {
    // The lease starts at the relay's `now`, which it took before this call; on a loaded machine that can be
    // milliseconds earlier, and a claim noted later would make a lawful takeover look early.
    const at = performance.now() - Math.max(0, Date.now() - request.now);
    const rows = await this.inner.claim(request);
    for (const row of rows) {
      const claim: Claim = { id: row.id, relay: this.relay, at, releasedAt: Number.POSITIVE_INFINITY };
      this.claims.push(claim);
      this.open.set(row.seq, claim);
    }
    return rows;
  }

  override async markSent(owner: string, seqs: readonly number[], now: number): Promise<number> {
    const changed = await this.inner.markSent(owner, seqs, now);
    this.letGo(seqs);
    return changed;
  }

  override async markFailed(mark: FailureMark): Promise<number> {
    const changed = await this.inner.markFailed(mark);
    this.letGo(mark.seqs);
    return changed;
  }

  override async release(owner: string, seqs: readonly number[]): Promise<number> {
    const changed = await this.inner.release(owner, seqs);
    this.letGo(seqs);
    return changed;
  }

  private letGo(seqs: readonly number[]): void {
    const now = performance.now();
    for (const seq of seqs) {
      const claim = this.open.get(seq);
      if (claim) claim.releasedAt = now;
      this.open.delete(seq);
    }
  }
}

function concurrencySuite(kind: 'postgres' | 'mariadb'): void {
  const urls = { postgres: POSTGRES_URL, mariadb: MARIADB_URL };
  let db: TestDatabase;
  const relays: OutboxRelay[] = [];
  const transports: FakeTransport[] = [];
  const claims: Claim[] = [];
  const loggers: MemoryLogger[] = [];
  const recorder = new PublishRecorder();
  let publishers: ReliablePublisher[] = [];
  const dataSources: DataSource[] = [];
  let drainSeconds = 0;

  beforeAll(async () => {
    db = await TestDatabase.create(kind, urls, uniqueName('rmq_relays'));
    let random = 12345;
    const next = (): number => {
      random = (random * 1_103_515_245 + 12_345) % 2_147_483_648;
      return random / 2_147_483_648;
    };
    for (let r = 0; r < RELAYS; r += 1) {
      const name = `relay-${r}`;
      loggers.push(new MemoryLogger());
      const transport = new FakeTransport(name, recorder);
      transport.behaviour = async (_batch, call) => {
        // relay-2's first send stalls for longer than its lease, so the others take its rows over.
        const stall = r === 2 && call === 0 ? 2.5 * LEASE_MS : next() * 3;
        await new Promise((resolve) => setTimeout(resolve, stall));
        if (next() < 0.03) throw new Error('simulated nack');
      };
      transports.push(transport);
      const dataSource = await db.open();
      dataSources.push(dataSource);
      relays.push(
        new OutboxRelay({
          dataSource,
          transport,
          logger: loggers[r]!,
          store: new RecordingStore(createOutboxStore(dataSource), name, claims),
          options: {
            instanceId: name,
            leaseMs: LEASE_MS,
            sweepCron: '* * * * * *',
            backoffBaseMs: 20,
            backoffMaxMs: 200,
          },
        }),
      );
    }
    // One publisher per "process", each waking its own relay after its commits, as in a deployment.
    // Their wakes are connected once the relays run, so that the first half is there before any relay looks.
    publishers = dataSources.map(
      (dataSource, r) =>
        new ReliablePublisher({ dataSource, transport: transports[r]!, producerGroup: 'order-service' }),
    );
    const messages = Array.from({ length: ROWS }, (_, i) => ({
      topic: 'orders',
      key: `order-${i % KEYS}`,
      payload: { i },
    }));
    // Transactions of 50 messages, dealt round-robin to the processes, which publish concurrently.
    const publishRange = (from: number, to: number): Promise<unknown> =>
      Promise.all(
        publishers.map(async (publisher, r) => {
          for (let start = from + r * 50; start < to; start += RELAYS * 50) {
            const chunk = messages.slice(start, Math.min(to, start + 50));
            await publisher.transaction((manager) => publisher.publish(chunk, { manager }));
          }
        }),
      );
    await publishRange(0, ROWS / 2);
    const started = performance.now();
    // relay-2 goes first and stalls holding the first row of every key; the others start while it is stuck.
    relays[2]!.start();
    await waitFor(() => transports[2]!.calls.length > 0, 10_000, 'relay-2 to start sending').catch((error: unknown) => {
      throw new Error(`${String(error)} relay-2 said: ${JSON.stringify(loggers[2]!.lines)}`);
    });
    relays[0]!.start();
    relays[1]!.start();
    publishers.forEach((publisher, r) => publisher.setWakeRelay(() => relays[r]!.wake()));
    await publishRange(ROWS / 2, ROWS);
    await waitFor(async () => (await relays[0]!.pendingCount()) === 0, 60_000, 'all rows sent');
    drainSeconds = (performance.now() - started) / 1000;
    // Let the stalled relay finish its round, so its fenced confirms are counted.
    await Promise.all(relays.map((relay) => relay.flush()));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(relays.map((relay) => relay.stop()));
    for (const publisher of publishers) publisher.close();
    await db?.dispose();
  });

  it('sends every row, and marks each sent exactly once', async () => {
    const rows = await db.rows();
    expect(rows).toHaveLength(ROWS);
    expect(rows.every((row) => row.status === 'sent')).toBe(true);
    const confirmed = new Set(recorder.confirmed().map((message) => message.id));
    expect(confirmed.size).toBe(ROWS);
    const metrics = relays.map((relay) => relay.metrics());
    expect(metrics.reduce((sum, m) => sum + m.sent, 0)).toBe(ROWS);
    // The stalled relay was fenced off the rows taken from it.
    expect(metrics[2]!.fenced).toBeGreaterThan(0);
    const resent = recorder.calls.flatMap((call) => call.ids).length - ROWS;
    console.log(
      `[outbox-relay 3×${kind}] ${ROWS} rows over ${KEYS} keys drained in ${drainSeconds.toFixed(2)} s ` +
        `(${Math.round(ROWS / drainSeconds)} rows/s, incl. a ${2.5 * LEASE_MS} ms stall); per relay sent ${metrics.map((m) => m.sent).join('/')}, ` +
        `fenced ${metrics.map((m) => m.fenced).join('/')}, failed attempts ${metrics.reduce((s, m) => s + m.failed, 0)}, extra sends ${resent}`,
    );
  });

  it('never lets two relays hold a row at once: a second claim comes only after release or lease expiry', () => {
    const byId = new Map<string, Claim[]>();
    for (const claim of claims) byId.set(claim.id, [...(byId.get(claim.id) ?? []), claim]);
    let takeovers = 0;
    for (const [id, list] of byId) {
      list.sort((a, b) => a.at - b.at);
      for (let i = 1; i < list.length; i += 1) {
        const previous = list[i - 1]!;
        const current = list[i]!;
        const free = Math.min(previous.releasedAt, previous.at + LEASE_MS - CLOCK_TOLERANCE_MS);
        if (current.at < free)
          throw new Error(`row ${id} was claimed by ${current.relay} while ${previous.relay} held it`);
        if (current.at < previous.releasedAt) takeovers += 1;
      }
    }
    expect(takeovers).toBeGreaterThan(0);
  });

  it('never has two relays sending a row at the same time unless the first lease had expired', () => {
    const claimBefore = (relay: string, id: string, time: number): Claim | undefined =>
      claims.filter((c) => c.relay === relay && c.id === id && c.at <= time).sort((a, b) => b.at - a.at)[0];
    const intervals = new Map<string, Array<{ relay: string; start: number; end: number }>>();
    for (const call of recorder.calls) {
      for (const id of call.ids)
        intervals.set(id, [
          ...(intervals.get(id) ?? []),
          { relay: call.transport, start: call.startedAt, end: call.endedAt },
        ]);
    }
    let overlapsAfterExpiry = 0;
    for (const [id, list] of intervals) {
      list.sort((a, b) => a.start - b.start);
      for (let i = 0; i < list.length; i += 1) {
        for (let j = i + 1; j < list.length; j += 1) {
          const a = list[i]!;
          const b = list[j]!;
          if (a.relay === b.relay || b.start >= a.end) continue;
          const first = claimBefore(a.relay, id, a.start)!;
          const second = claimBefore(b.relay, id, b.start)!;
          if (second.at < first.at + LEASE_MS - CLOCK_TOLERANCE_MS) {
            throw new Error(`row ${id} was being sent by ${a.relay} and ${b.relay} at once, within ${a.relay}'s lease`);
          }
          overlapsAfterExpiry += 1;
        }
      }
    }
    expect(overlapsAfterExpiry).toBeGreaterThan(0);
  });

  it('keeps per-key order: a row goes to the broker only after the previous row of its key was confirmed', async () => {
    const rows = await db.rows();
    const firstStart = new Map<string, number>();
    const firstConfirm = new Map<string, number>();
    for (const call of recorder.calls) {
      for (const id of call.ids) {
        firstStart.set(id, Math.min(firstStart.get(id) ?? Number.POSITIVE_INFINITY, call.startedAt));
        if (call.ok) firstConfirm.set(id, Math.min(firstConfirm.get(id) ?? Number.POSITIVE_INFINITY, call.endedAt));
      }
    }
    const byKey = new Map<string, OutboxMessage[]>();
    for (const row of rows) byKey.set(row.key!, [...(byKey.get(row.key!) ?? []), row]);
    expect(byKey.size).toBe(KEYS);
    for (const [key, list] of byKey) {
      for (let i = 1; i < list.length; i += 1) {
        const previous = list[i - 1]!;
        const current = list[i]!;
        if (firstStart.get(current.id)! < firstConfirm.get(previous.id)!) {
          throw new Error(`key ${key}: row seq ${current.seq} was sent before row seq ${previous.seq} was confirmed`);
        }
      }
    }
  });
}

describeWithService('postgres', 'Three outbox relays on one PostgreSQL database', () => concurrencySuite('postgres'));
describeWithService('mariadb', 'Three outbox relays on one MariaDB database', () => concurrencySuite('mariadb'));
