// A/B of the engine publish path: the insert with named parameters and a CSPRNG call per id (before) against
// positional parameters and a pooled CSPRNG (after), interleaved in one process.
import 'reflect-metadata';
import { BrokerEngine } from '@reliable-mq/engine';
import { MessageStore } from '@reliable-mq/engine/storage/message-store';
import * as uuid from '@reliable-mq/engine/util/uuid-v7';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { closedLoop } from './lib/loops';
import { median } from './lib/samples';
const proto = MessageStore.prototype as any; const after = proto.insertMessage;
function before(this: any, message: any, queueId: number, queueOffset: number, storedAt: number) {
  if (!this.namedInsert) this.namedInsert = this.db.prepare(`INSERT INTO messages (topic, queue_id, queue_offset, message_id, key, tags, headers, body, born_at, stored_at, expire_at)
       VALUES (@topic, @queueId, @queueOffset, @messageId, @key, @tags, @headers, @body, @bornAt, @storedAt, @expireAt)`);
  this.namedInsert.run({ ...message, queueId, queueOffset, storedAt });
}
const uuidAfter = uuid.uuidv7;
function uuidBefore(now = Date.now()): string { const b = randomBytes(16); b.writeUIntBE(now, 0, 6); b[6] = 0x70 | (b[6]! & 0x0f); b[8] = 0x80 | (b[8]! & 0x3f); const h = b.toString('hex'); randomBytes(2); return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`; }
(async () => {
  const out: Record<string, number[]> = {};
  const cases = [['sync', 64, 1], ['sync', 1, 100], ['sync', 1, 1]] as const;
  for (let r = 0; r < 3; r++) for (const variant of ['before', 'after']) for (const [flush, workers, batch] of cases) {
    proto.insertMessage = variant === 'before' ? before : after;
    const dir = mkdtempSync('/tmp/bx/ab-'); const engine = BrokerEngine.open({ dataDir: dir, flush });
    engine.createTopic('bench', { queueCount: 4 }); const body = Buffer.alloc(256, 0x61);
    const res = await closedLoop({ workers, durationMs: 3000, maxCount: 1e7, op: async (seq) => { await engine.publish(Array.from({ length: batch }, (_, i) => ({ topic: 'bench', key: `order-${seq * batch + i}`, body }))); } });
    const key = `${variant} ${flush} c${workers} batch${batch}`; (out[key] ??= []).push(Math.round(res.count * batch * 1000 / res.elapsedMs));
    await engine.close(); rmSync(dir, { recursive: true });
  }
  for (const [k, v] of Object.entries(out)) console.log(k.padEnd(28), 'median', median(v), JSON.stringify(v));
  for (const [name, fn] of [['uuid before', uuidBefore], ['uuid after', uuidAfter], ['uuid before', uuidBefore], ['uuid after', uuidAfter]] as const) {
    const t0 = performance.now(); for (let i = 0; i < 200_000; i++) fn(); console.log(name, ((performance.now() - t0) * 1000 / 200_000).toFixed(2), 'µs per id');
  }
})();
