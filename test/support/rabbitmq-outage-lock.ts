import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/*
 * The CI-only fault test stops the shared RabbitMQ server (`rabbitmqctl stop_app`) for 30 s or more. Test files run
 * in parallel processes, so suites that use RabbitMQ take a shared hold on it, and the outage takes it exclusively:
 * each side writes its own marker first and only then looks for the other side's, so both can never go ahead.
 * Markers of processes that died are ignored.
 */

const DIR = join(tmpdir(), 'reliable-mq-rabbitmq-lock');
const OUTAGE = 'outage';
let counter = 0;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function markers(): Array<{ name: string; pid: number }> {
  mkdirSync(DIR, { recursive: true });
  return readdirSync(DIR)
    .map((name) => ({ name, pid: Number(name.split('-')[1]) }))
    .filter((marker) => Number.isInteger(marker.pid) && alive(marker.pid));
}

/** Takes a shared hold on RabbitMQ for as long as `work` runs: no outage starts meanwhile. */
async function sharedHold(timeoutMs: number): Promise<() => void> {
  const name = `user-${process.pid}-${++counter}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(join(DIR, name), '');
    if (!markers().some((marker) => marker.name.startsWith(`${OUTAGE}-`))) {
      return () => rmSync(join(DIR, name), { force: true });
    }
    rmSync(join(DIR, name), { force: true });
    if (Date.now() > deadline) throw new Error('RabbitMQ stayed stopped by the outage test for too long.');
    await sleep(250);
  }
}

/** Runs `work` under a shared hold. */
export async function withSharedRabbitMq(work: () => Promise<void>): Promise<void> {
  const release = await sharedHold(180_000);
  try {
    await work();
  } finally {
    release();
  }
}

/** Registers a shared hold for the enclosing suite (call inside its `describe`). */
export function holdSharedRabbitMq(): void {
  let release: (() => void) | undefined;
  beforeAll(async () => {
    release = await sharedHold(180_000);
  }, 200_000);
  afterAll(() => release?.());
}

/**
 * Runs `work` while no other suite uses RabbitMQ. Waits up to `timeoutMs` for the others to finish; resolves
 * false (and runs nothing) when they do not.
 */
export async function withExclusiveRabbitMq(work: () => Promise<void>, timeoutMs: number): Promise<boolean> {
  const name = `${OUTAGE}-${process.pid}-${++counter}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(join(DIR, name), '');
    const others = markers().filter((marker) => marker.name !== name);
    if (others.length === 0) break;
    rmSync(join(DIR, name), { force: true });
    if (Date.now() > deadline) return false;
    await sleep(500);
  }
  try {
    await work();
    return true;
  } finally {
    rmSync(join(DIR, name), { force: true });
  }
}
