import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerEngine, type Delivery, type EngineOptions } from '@reliable-mq/engine';

/** A fresh data directory per test, removed afterwards. */
export function tempDataDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-engine-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens engines on temporary directories and closes and removes them all in `dispose()`. */
export class EngineKit {
  private readonly engines: BrokerEngine[] = [];
  private readonly dirs: Array<() => void> = [];
  readonly errors: Error[] = [];

  open(options: Partial<EngineOptions> = {}): BrokerEngine {
    let dataDir = options.dataDir;
    if (!dataDir) {
      const temp = tempDataDir();
      this.dirs.push(temp.cleanup);
      dataDir = temp.dir;
    }
    const engine = BrokerEngine.open({
      minFreeDiskBytes: 0,
      onError: (error) => this.errors.push(error),
      ...options,
      dataDir,
    });
    this.engines.push(engine);
    return engine;
  }

  async dispose(): Promise<void> {
    for (const engine of this.engines) await engine.close(1000);
    for (const cleanup of this.dirs) cleanup();
  }
}

export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const text = (delivery: Delivery): string => delivery.body.toString('utf8');
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Per key, the sequence numbers of bodies written as `key:seq`, in the order the deliveries are listed. */
export function sequencesByKey(deliveries: readonly Delivery[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const delivery of deliveries) {
    const [key, seq] = text(delivery).split(':');
    byKey.set(key!, [...(byKey.get(key!) ?? []), Number(seq)]);
  }
  return byKey;
}

/** The integers from `from` up to, not including, `to`. */
export const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
