import 'reflect-metadata';
import { ReliablePublisher } from '@reliable-mq/nestjs';
import { openPostgresDatabase } from './lib/databases';
import { orderPayload } from './lib/temp';
(async () => {
  const schema = 'rmq_probe7_' + Date.now(); const db = await openPostgresDatabase(schema);
  const pub = new ReliablePublisher({ dataSource: db.dataSource, transport: {} as never, producerGroup: 'g' });
  for (let s = 0; s < 20000; s += 1000) await pub.transaction((m) => pub.publish(Array.from({ length: 1000 }, (_, i) => ({ topic: 'o', key: 'k' + (s + i), payload: orderPayload('o' + (s + i), 0) })), { manager: m }));
  const t = `"${schema}"."rmq_outbox"`;
  const variants: Record<string, string> = {
    current: `UPDATE ${t} SET status = 'sent', sent_at = $1, lease_until = NULL WHERE seq = ANY($2::bigint[]) AND lease_owner = $3 AND status = 'pending'`,
    unnestIn: `UPDATE ${t} SET status = 'sent', sent_at = $1, lease_until = NULL WHERE seq IN (SELECT unnest($2::bigint[])) AND lease_owner = $3 AND status = 'pending'`,
    notSentNotDead: `UPDATE ${t} SET status = 'sent', sent_at = $1, lease_until = NULL WHERE seq = ANY($2::bigint[]) AND lease_owner = $3 AND status <> 'sent' AND status <> 'dead'`,
  };
  for (const [name, sql] of Object.entries(variants)) {
    await db.dataSource.query('BEGIN');
    const r = await db.dataSource.query('EXPLAIN (ANALYZE) ' + sql, [1, Array.from({ length: 100 }, (_, i) => i + 5000), 'x']);
    await db.dataSource.query('ROLLBACK');
    console.log('==', name); console.log(r.map((x: any) => x['QUERY PLAN']).filter((l: string) => !l.includes('{')).join('\n'));
  }
  const claimBase = (extra: string) => `SELECT o.* FROM ${t} o WHERE o.status = 'pending' AND o.next_attempt_at <= $1 AND (o.lease_until IS NULL OR o.lease_until < $2)
         AND (o.msg_key IS NULL OR NOT EXISTS (SELECT 1 FROM ${t} p WHERE p.msg_key = o.msg_key AND p.seq < o.seq AND p.status <> 'sent'))
       ORDER BY ${extra} LIMIT $3 FOR UPDATE OF o SKIP LOCKED`;
  for (const [name, order] of [['order seq', 'o.seq'], ['order seq, sort off', 'o.seq']]) {
    const runner = db.dataSource.createQueryRunner(); await runner.connect(); await runner.startTransaction('READ COMMITTED');
    if (name.includes('sort off')) await runner.query('SET LOCAL enable_sort = off');
    const r = await runner.query('EXPLAIN (ANALYZE) ' + claimBase(order), [Date.now(), Date.now(), 100]);
    await runner.commitTransaction(); await runner.release();
    console.log('==', name); console.log(r.map((x: any) => x['QUERY PLAN']).slice(0, 6).join('\n')); console.log(r[r.length - 1]['QUERY PLAN']);
  }
  pub.close(); await db.dispose();
})();
