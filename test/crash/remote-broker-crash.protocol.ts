import { writeSync } from 'node:fs';

/**
 * What the remote-broker crash test and its two application processes share: names, settings, and the JSON lines
 * the children write on stdout. Loaded by plain child processes: no vitest here.
 */

export const ORDER_TOPIC = 'order.created';
export const ORDER_TOPIC_QUEUES = 4;
export const PRODUCER_GROUP = 'order-service';
export const CONSUMER_GROUP = 'shipping-service';

export interface ChildConfig {
  brokerUrl: string;
  token: string;
  /** The child's own SQLite database. */
  databaseFile: string;
}

export interface ProducerConfig extends ChildConfig {
  /** Every n-th transaction is rolled back on purpose. */
  rollbackEvery: number;
  maxRunMs: number;
  drainLimitMs: number;
}

export interface ConsumerConfig extends ChildConfig {
  drainLimitMs: number;
}

export type ChildLine =
  | { kind: 'ready' }
  | { kind: 'progress'; committed: number; rolledBack: number; failed: number }
  | { kind: 'effects'; count: number }
  | {
      kind: 'drained';
      committed?: number;
      rolledBack?: number;
      pending?: number;
      relay?: { sent: number; failed: number; dead: number } | null;
      handled?: number;
      duplicates?: number;
      failedHandlers?: number;
      effects?: number;
    }
  | { kind: 'log'; level: string; message: string }
  | { kind: 'error'; message: string };

/** Child side: one line, written synchronously so it is in the pipe before the process goes on. */
export function emitLine(line: ChildLine): void {
  const bytes = Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
  let written = 0;
  for (let tries = 0; written < bytes.length && tries < 10_000; tries++) {
    try {
      written += writeSync(1, bytes, written, bytes.length - written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

/** Nest logs go to stderr as plain text; stdout carries only the lines above. */
export const stderrLogger = {
  log: (): void => undefined,
  debug: (): void => undefined,
  verbose: (): void => undefined,
  warn: (message: unknown, context?: string): void =>
    void process.stderr.write(`[warn ${context ?? ''}] ${String(message)}\n`),
  error: (message: unknown, ...rest: unknown[]): void =>
    void process.stderr.write(`[error] ${String(message)} ${rest.join(' ')}\n`),
  fatal: (message: unknown): void => void process.stderr.write(`[fatal] ${String(message)}\n`),
};

/** Resolves on the first stdin line equal to `word` (or when stdin closes). */
export function waitForCommand(word: string): Promise<string> {
  return new Promise((resolve) => {
    let buffered = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      buffered += chunk;
      for (const line of buffered.split('\n').slice(0, -1)) if (line.trim().startsWith(word)) resolve(line.trim());
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    process.stdin.on('end', () => resolve(word));
    process.stdin.resume();
  });
}
