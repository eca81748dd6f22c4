import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../errors/configuration.error';
import { DedupBusyError } from '../errors/dedup-busy.error';
import { DedupUnavailableError } from '../errors/dedup-unavailable.error';
import { MemoryDedupStore } from './memory-dedup.store';

function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return { now: () => current, advance: (ms) => void (current += ms) };
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('MemoryDedupStore', () => {
  it('forgets DONE after doneTtlMs, so the dedup window is bounded', async () => {
    const clock = manualClock();
    const store = new MemoryDedupStore({ doneTtlMs: '1h', now: clock.now });
    await expect(store.execute('billing', 'order-1', async () => undefined)).resolves.toBe('processed');
    clock.advance(3_600_000 - 1);
    await expect(store.execute('billing', 'order-1', async () => undefined)).resolves.toBe('duplicate');
    clock.advance(1);
    await expect(store.execute('billing', 'order-1', async () => undefined)).resolves.toBe('processed');
  });

  it('lets another delivery claim a key whose PROCESSING state expired (a crashed run)', async () => {
    const clock = manualClock();
    const store = new MemoryDedupStore({ processingTtlMs: 1_000, now: clock.now });
    const held = gate();
    const stuck = store.execute('billing', 'order-1', () => held.wait);
    await expect(store.execute('billing', 'order-1', async () => undefined)).rejects.toBeInstanceOf(DedupBusyError);
    clock.advance(1_000);
    await expect(store.execute('billing', 'order-1', async () => undefined)).resolves.toBe('processed');
    held.open();
    await expect(stuck).resolves.toBe('processed');
    expect(store.counters).toEqual({ processed: 2, duplicates: 0, busy: 1 });
  });

  it('does not let a run that lost its claim overwrite or release the newer claim', async () => {
    const clock = manualClock();
    const store = new MemoryDedupStore({ processingTtlMs: 1_000, now: clock.now });
    const oldRun = gate();
    const newRun = gate();
    const late = store.execute('billing', 'order-1', async () => {
      await oldRun.wait;
      throw new Error('late failure');
    });
    clock.advance(1_000);
    const current = store.execute('billing', 'order-1', () => newRun.wait);
    oldRun.open();
    await expect(late).rejects.toThrow('late failure');
    // The newer run still holds the key: the late failure did not release it.
    await expect(store.execute('billing', 'order-1', async () => undefined)).rejects.toBeInstanceOf(DedupBusyError);
    newRun.open();
    await expect(current).resolves.toBe('processed');
    await expect(store.execute('billing', 'order-1', async () => undefined)).resolves.toBe('duplicate');
  });

  it('hands out counter snapshots that callers cannot change', async () => {
    const store = new MemoryDedupStore();
    const snapshot = store.counters;
    snapshot.processed = 99;
    expect(store.counters.processed).toBe(0);
  });

  it('refuses calls after close with DedupUnavailableError, without running work', async () => {
    const store = new MemoryDedupStore();
    await store.close();
    let ran = false;
    await expect(store.execute('billing', 'order-1', async () => void (ran = true))).rejects.toBeInstanceOf(
      DedupUnavailableError,
    );
    expect(ran).toBe(false);
  });

  it.each([0, -1, '0s', 'soon'])('refuses a processingTtlMs of %j with a ConfigurationError', (value) => {
    expect(() => new MemoryDedupStore({ processingTtlMs: value })).toThrow(ConfigurationError);
  });
});
