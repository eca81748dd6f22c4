import 'reflect-metadata';
import { ReliablePublisher } from '@reliable-mq/nestjs';
import { openSqliteDatabase } from './lib/databases';
import { orderPayload } from './lib/temp';
import { mkdtempSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
(async () => {
  const db = await openSqliteDatabase(mkdtempSync('/tmp/bx/q-'));
  const pub = new ReliablePublisher({ dataSource: db.dataSource, transport: {} as never, producerGroup: 'g' });
  for (let s = 0; s < 10000; s += 1000) await pub.transaction((m) => pub.publish(Array.from({ length: 1000 }, (_, i) => ({ topic: 't', key: 'k' + (s + i), payload: orderPayload('o' + (s + i), 0) })), { manager: m }));
  const raw = (db.dataSource.driver as any).databaseConnection as Database;
  raw.pragma('synchronous = OFF');
  const t = '"rmq_outbox"';
  const claimSql = `UPDATE ${t} SET lease_owner = ?, lease_until = ?
       WHERE seq IN (
         SELECT o.seq FROM ${t} AS o
         WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND (o.lease_until IS NULL OR o.lease_until < ?)
           AND (o.msg_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM ${t} AS p WHERE p.msg_key = o.msg_key AND p.seq < o.seq AND p.status <> 'sent'))
         ORDER BY o.seq LIMIT ?)
       RETURNING *`;
  console.log(raw.prepare('EXPLAIN QUERY PLAN ' + claimSql).all('x', 1, Date.now(), Date.now(), 100).map((r: any) => r.detail).join('\n'));
  const claim = raw.prepare(claimSql);
  const mark = raw.prepare(`UPDATE ${t} SET status = 'sent', sent_at = ?, lease_until = NULL WHERE seq IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND status = 'pending'`);
  console.log(raw.prepare('EXPLAIN QUERY PLAN ' + `UPDATE ${t} SET status = 'sent', sent_at = ?, lease_until = NULL WHERE seq IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND status = 'pending'`).all(1, '[1]', 'x').map((r: any) => r.detail).join('\n'));
  let tc = 0, tm = 0, n = 0;
  for (let r = 0; r < 100; r++) {
    const now = Date.now(); let t0 = performance.now();
    const rows = claim.all('x', now + 30000, now, now, 100) as any[]; tc += performance.now() - t0; n += rows.length;
    t0 = performance.now(); mark.run(now, JSON.stringify(rows.map((x) => x.seq)), 'x'); tm += performance.now() - t0;
  }
  console.log('rows', n, 'claim us/row', (tc * 1000 / n).toFixed(1), 'mark us/row', (tm * 1000 / n).toFixed(1));
  await db.dispose();
})();
