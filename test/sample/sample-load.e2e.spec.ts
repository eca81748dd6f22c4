import { afterEach, expect, it } from 'vitest';
import {
  CARDS,
  SAMPLE_MODES,
  bootSample,
  bootSampleIn,
  deadLetterOrderIds,
  describeSampleMode,
  duplicatesSuppressed,
  eventually,
  gateway,
  ordersOf,
  paymentRowsPerOrder,
  placeOrder,
  request,
  type TestSample,
} from './sample-harness';

type Kind = 'ok' | 'failsTwice' | 'declined' | 'overLimit';

/** Per ten orders: five normal, two that fail twice, two declined, one over the limit. */
const MIX: Kind[] = ['ok', 'failsTwice', 'ok', 'declined', 'ok', 'overLimit', 'ok', 'failsTwice', 'declined', 'ok'];

function orderOf(kind: Kind, index: number, customerId: string): { customerId: string; amount: number; card: string } {
  const amount = kind === 'overLimit' ? 10_000 + index + 0.5 : 1 + (index % 97) + 0.25;
  const card = kind === 'failsTwice' ? CARDS.failsTwice : kind === 'declined' ? CARDS.declined : CARDS.ok;
  return { customerId, amount, card };
}

/** Places `count` orders from `start`, `parallel` at a time, and returns id → kind. */
async function placeMany(
  sample: TestSample,
  customerId: string,
  start: number,
  count: number,
  parallel = 8,
): Promise<Map<string, Kind>> {
  const placed = new Map<string, Kind>();
  let next = start;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < start + count) {
        const index = next++;
        const kind = MIX[index % MIX.length]!;
        placed.set(await placeOrder(sample, orderOf(kind, index, customerId)), kind);
      }
    }),
  );
  return placed;
}

const EXPECTED: Record<Kind, string> = { ok: 'PAID', failsTwice: 'PAID', overLimit: 'FAILED', declined: 'PENDING' };

/** Waits until every order is final: PAID, FAILED, or PENDING with a dead letter. */
async function waitSettled(
  sample: TestSample,
  customerId: string,
  placed: Map<string, Kind>,
  timeoutMs = 60_000,
): Promise<void> {
  let orders = new Map<string, string>();
  let dead = new Map<string, string>();
  await eventually(
    async () => {
      orders = await ordersOf(sample, customerId);
      dead = await deadLetterOrderIds(sample);
      return [...placed.keys()].every((id) => orders.get(id) === 'PAID' || orders.get(id) === 'FAILED' || dead.has(id));
    },
    () => {
      const open = [...placed].filter(
        ([id]) => orders.get(id) !== 'PAID' && orders.get(id) !== 'FAILED' && !dead.has(id),
      );
      return `${open.length} of ${placed.size} orders not final, e.g. ${JSON.stringify(open.slice(0, 5))}`;
    },
    timeoutMs,
  );
}

/** Every order is in the state its card calls for; declined ones are in the DLQ with the reason. */
async function expectFinalStates(sample: TestSample, customerId: string, placed: Map<string, Kind>): Promise<void> {
  const orders = await ordersOf(sample, customerId);
  const dead = await deadLetterOrderIds(sample);
  const wrong = [...placed]
    .filter(([id, kind]) => orders.get(id) !== EXPECTED[kind])
    .map(([id, kind]) => `${kind} ${id}: ${orders.get(id)}`);
  expect(wrong).toEqual([]);
  for (const [id, kind] of placed) {
    if (kind === 'declined') expect(dead.get(id)).toContain('card ending 0002 was declined');
    else expect(dead.has(id)).toBe(false);
  }
  expect(orders.size).toBe(placed.size);
  const rows = await paymentRowsPerOrder(sample);
  expect([...rows.values()].filter((count) => count > 1)).toEqual([]);
  for (const [id, kind] of placed) expect(rows.get(id) ?? 0).toBe(kind === 'declined' ? 0 : 1);
}

const running: TestSample[] = [];
afterEach(async () => {
  for (const sample of running.splice(0)) await sample.stop();
});

for (const mode of SAMPLE_MODES)
  describeSampleMode(mode, 'the sample under a stream of mixed orders', () => {
    it('settles 200 orders as their cards say, charges each once, and suppresses 20 forced duplicates', async () => {
      const sample = await bootSampleIn(mode);
      running.push(sample);
      const customerId = 'load';
      const placed = await placeMany(sample, customerId, 0, 200);
      expect(placed.size).toBe(200);
      await waitSettled(sample, customerId, placed);
      await expectFinalStates(sample, customerId, placed);

      // order.created published again for 20 paid orders: the payment service's dedup must swallow every one.
      const paid = [...placed]
        .filter(([, kind]) => kind === 'ok' || kind === 'failsTwice')
        .map(([id]) => id)
        .slice(0, 20);
      const duplicatesBefore = await duplicatesSuppressed(sample);
      const chargesBefore = gateway(sample).chargeCount;
      const callsBefore = paid.map((id) => gateway(sample).callsFor(id));
      for (const id of paid)
        expect((await request('POST', `${sample.orderUrl}/orders/${id}/republish`)).status).toBe(202);
      await eventually(
        async () => (await duplicatesSuppressed(sample)) - duplicatesBefore >= 20,
        async () => `${(await duplicatesSuppressed(sample)) - duplicatesBefore} duplicates suppressed`,
      );
      // Let anything that slipped past dedup show itself before counting.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await duplicatesSuppressed(sample)) - duplicatesBefore).toBe(20);
      expect(gateway(sample).chargeCount).toBe(chargesBefore);
      expect(paid.map((id) => gateway(sample).callsFor(id))).toEqual(callsBefore);
      await expectFinalStates(sample, customerId, placed);
    });

    it('loses no order when the sample is closed mid-run and booted again on the same data', async () => {
      const first = await bootSampleIn(mode);
      running.push(first);
      const customerId = 'restart';
      const before = await placeMany(first, customerId, 0, 100);
      // Closed while payments, retries and results are still in flight: the last orders that fail twice are placed
      // moments before, and their retries alone take 70 ms.
      const atClose = await ordersOf(first, customerId);
      expect([...atClose.values()].filter((status) => status === 'PENDING').length).toBeGreaterThan(10);
      await first.stop({ keepData: true });

      const second = await bootSample(first.dataDir, first.options);
      running.push(second);
      const after = await placeMany(second, customerId, 100, 100);
      const placed = new Map([...before, ...after]);
      expect(placed.size).toBe(200);
      await waitSettled(second, customerId, placed);
      await expectFinalStates(second, customerId, placed);
    });
  });
