import 'reflect-metadata';
import { EmbeddedTransport, OutboxRelay, ReliablePublisher } from '@reliable-mq/nestjs';
import { openPostgresDatabase } from './lib/databases';
import { LockingOutboxStore } from '@reliable-mq/nestjs/outbox/locking-outbox-store';
import { orderPayload } from './lib/temp';
import { nowMs } from './lib/samples';
import { mkdtempSync } from 'node:fs';
(async () => {
  if (process.argv[3] === 'patched') {
    const proto = LockingOutboxStore.prototype as any; const orig = proto.inTransaction;
    proto.inTransaction = function (work: any) { return orig.call(this, async (runner: any) => { await runner.query('SET LOCAL enable_bitmapscan = off'); await runner.query('SET LOCAL enable_sort = off'); return work(runner); }); };
  }
  const N = Number(process.argv[2] ?? 50000);
  const schema = 'rmq_probe6_' + Date.now();
  const db = await openPostgresDatabase(schema);
  const pub = new ReliablePublisher({ dataSource: db.dataSource, transport: {} as never, producerGroup: 'g' });
  for (let s = 0; s < N; s += 1000) await pub.transaction((m) => pub.publish(Array.from({ length: 1000 }, (_, i) => ({ topic: 'order.created', key: 'k' + (s + i), payload: orderPayload('o' + (s + i), 0) })), { manager: m }));
  const t = `"${schema}"."rmq_outbox"`;
  const claim = `SELECT o.* FROM ${t} o
       WHERE o.status = 'pending' AND o.next_attempt_at <= $1 AND (o.lease_until IS NULL OR o.lease_until < $2)
         AND (o.msg_key IS NULL OR NOT EXISTS (
           SELECT 1 FROM ${t} p WHERE p.msg_key = o.msg_key AND p.seq < o.seq AND p.status <> 'sent'))
       ORDER BY o.seq LIMIT $3 FOR UPDATE OF o SKIP LOCKED`;
  const explain = async (label: string) => { const now = Date.now(); const rows = await db.dataSource.query('EXPLAIN (ANALYZE, BUFFERS) ' + claim, [now, now, 100]); console.log('---', label); console.log(rows.map((r: any) => r['QUERY PLAN']).join('\n')); };
  await explain('before drain');
  for (const sql of [`UPDATE ${t} SET status = 'sent', sent_at = $1, lease_until = NULL WHERE seq = ANY($2::bigint[]) AND lease_owner = $3 AND status = 'pending'`, `UPDATE ${t} SET lease_owner = $3, lease_until = $1 WHERE seq = ANY($2::bigint[])`]) {
    await db.dataSource.query('BEGIN');
    const r = await db.dataSource.query('EXPLAIN (ANALYZE, BUFFERS) ' + sql, [1, Array.from({ length: 100 }, (_, i) => i + 1), 'x']);
    await db.dataSource.query('ROLLBACK');
    console.log(r.map((x: any) => x['QUERY PLAN']).join('\n'));
  }
  if (process.argv[3] === 'patched') { await db.dataSource.query('SET enable_bitmapscan = off'); }
  const dir = mkdtempSync('/tmp/bx/p6-'); const tr = new EmbeddedTransport({ kind: 'embedded', dataDir: dir, flush: 'sync', topics: ['order.created'] }); await tr.connect();
  const relay = new OutboxRelay({ dataSource: db.dataSource, transport: tr, logger: { log() {}, warn: console.warn, error: console.error } });
  // drain half by hand: rounds until half sent
  const t0 = nowMs(); let rounds = 0;
  while ((relay.metrics().sent < N / 2) && nowMs() - t0 < 120000) { await (relay as any).round(); rounds++; if (rounds % 50 === 0) console.log('rounds', rounds, 'sent', relay.metrics().sent, 'ms/round', ((nowMs() - t0) / rounds).toFixed(1)); }
  await explain('half drained');
  await db.dataSource.query(`ANALYZE ${t}`);
  await explain('half drained, after ANALYZE');
  const t1 = nowMs(); const sent0 = relay.metrics().sent; let r2 = 0;
  while (r2 < 50) { await (relay as any).round(); r2++; }
  console.log('after analyze ms/round', ((nowMs() - t1) / r2).toFixed(1), 'rows', relay.metrics().sent - sent0);
  await relay.stop(); await tr.close(); pub.close(); await db.dispose();
})();
