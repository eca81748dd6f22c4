import type { INestApplicationContext } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RELIABLE_MQ_TRANSPORT } from '../constants';
import { ConsumerRunner } from '../consuming/consumer-runner.service';
import { OutboxRelayService } from '../outbox/outbox-relay.service';
import type { EmbeddedTransportOptions } from '../reliable-mq-options.interface';
import type { Transport } from '../transport/transport.interface';

export interface TemporaryEmbeddedTransport {
  transport: EmbeddedTransportOptions;
  /** Removes the temporary data directory; call after the app is closed. */
  cleanup(): void;
}

/**
 * Transport options for tests: a fresh engine data directory, `async` flush (a test
 * process has nothing to lose on power failure) and no free-disk floor.
 */
export function temporaryEmbeddedTransport(
  overrides: Partial<Omit<EmbeddedTransportOptions, 'kind'>> = {},
): TemporaryEmbeddedTransport {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-test-'));
  return {
    transport: {
      kind: 'embedded',
      dataDir,
      flush: 'async',
      ...overrides,
      engine: { minFreeDiskBytes: 0, ...overrides.engine },
    },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

export interface IdleOptions {
  timeoutMs?: number;
  /** Consecutive idle checks required, so a message between two checks is not missed. Default 3. */
  settleChecks?: number;
  intervalMs?: number;
}

/**
 * Resolves once every message is handled: no outbox row pending, no handler running, and nothing the broker still
 * holds for consumers as the transport's `pendingWork` tells it (embedded: no lag, nothing in flight, no retry or
 * delayed message waiting; RabbitMQ: no message ready in the work and retry queues). Rejects with what is still
 * outstanding after `timeoutMs`.
 */
export async function waitForIdle(app: INestApplicationContext, options: IdleOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const settle = options.settleChecks ?? 3;
  const interval = options.intervalMs ?? 20;
  const relay = app.get(OutboxRelayService);
  const runner = app.get(ConsumerRunner);
  const transport = app.get<Transport>(RELIABLE_MQ_TRANSPORT);
  const started = Date.now();
  let quiet = 0;
  let outstanding = '';
  while (quiet < settle) {
    const pending = await relay.pendingCount();
    const broker = (await transport.pendingWork?.()) ?? { lag: 0, inFlight: 0, retry: 0, scheduled: 0 };
    const idle = pending === 0 && runner.inFlight === 0 && Object.values(broker).every((value) => value === 0);
    outstanding = `outbox pending ${pending}, handlers running ${runner.inFlight}, lag ${broker.lag}, in flight ${broker.inFlight}, retries ${broker.retry}, delayed ${broker.scheduled}`;
    quiet = idle ? quiet + 1 : 0;
    if (quiet >= settle) return;
    if (Date.now() - started > timeoutMs) throw new Error(`Not idle after ${timeoutMs} ms: ${outstanding}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
