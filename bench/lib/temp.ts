import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './types';

/** A fresh directory under the run's temporary root. */
export function freshDir(ctx: BenchContext, prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(ctx.tmpRoot, `${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A 256-byte body; its first 8 bytes carry the send time (nowMs clock) for end-to-end latency. */
export const BODY_BYTES = 256;

export function timedBody(sentAt: number): Buffer {
  const body = Buffer.alloc(BODY_BYTES, 0x61);
  body.writeDoubleLE(sentAt, 0);
  return body;
}

export const sentAtOf = (body: Buffer): number => body.readDoubleLE(0);

/**
 * A JSON payload of the kind the framework scenarios publish (an order event), padded so that its JSON text is
 * 256 bytes, like the raw rows.
 */
export function orderPayload(
  orderId: string,
  sentAt: number,
): { orderId: string; amount: number; sentAt: number; pad: string } {
  const base = { orderId, amount: 42.5, sentAt, pad: '' };
  const length = Buffer.byteLength(JSON.stringify(base));
  return { ...base, pad: 'x'.repeat(Math.max(0, BODY_BYTES - length)) };
}
