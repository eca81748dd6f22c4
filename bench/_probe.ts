import 'reflect-metadata';
import { Inject, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MqConsumer, ReliableMqModule, ReliablePublisher, RELIABLE_MQ_TRANSPORT, OutboxRelayService, type Transport } from '@reliable-mq/nestjs';
import { BenchOrder, openPostgresDatabase, openSqliteDatabase, orderRow, type BenchDatabase } from './lib/databases';
import { openLoop, waitUntil } from './lib/loops';
import { LatencySamples, nowMs } from './lib/samples';
import { REDIS_URL } from './lib/services';
import { orderPayload } from './lib/temp';
import { mkdtempSync } from 'node:fs';
const TOPIC = 'order.created';
class Arrivals { at = new Map<string, number>(); }
@Injectable() class H { constructor(@Inject('A') private readonly a: Arrivals) {}
  @MqConsumer({ topic: TOPIC, group: 'g', dedupKey: (p: { orderId: string }) => p.orderId }) async charge(p: { orderId: string }) { this.a.at.set(p.orderId, nowMs()); } }
@Module({}) class M { static with(db: BenchDatabase, dir: string, a: Arrivals, dedup: any): DynamicModule { return { module: M, imports: [ReliableMqModule.forRoot({ producerGroup: 'p', dataSource: db.dataSource, transport: { kind: 'embedded', dataDir: dir, flush: 'sync', topics: [TOPIC] }, dedup, consumers: { startFrom: 'earliest' } })], providers: [{ provide: 'A', useValue: a }, H] }; } }
(async () => {
  const kind = process.argv[2] ?? 'sqlite'; const dedupKind = process.argv[3] ?? 'redis';
  const dir = mkdtempSync('/tmp/bx/c2h-');
  const db = kind === 'sqlite' ? await openSqliteDatabase(dir) : await openPostgresDatabase('rmq_probe_' + Date.now());
  const a = new Arrivals();
  const dedup = dedupKind === 'redis' ? { store: 'redis', url: REDIS_URL, keyPrefix: 'rmq:probe:' + Date.now() + ':' } : { store: 'memory' };
  const app = await NestFactory.createApplicationContext(M.with(db, dir + '/b', a, dedup), { logger: ['error', 'warn'] });
  await app.init();
  const pub = app.get(ReliablePublisher); const transport = app.get<Transport>(RELIABLE_MQ_TRANSPORT);
  const confirmed = new Map<string, number>(); const batchSizes: number[] = [];
  const orig = transport.publish.bind(transport);
  (transport as any).publish = async (batch: any[]) => { const r = await orig(batch); const t = nowMs(); batchSizes.push(batch.length); for (const m of batch) confirmed.set(m.key, t); return r; };
  const relay: any = app.get(OutboxRelayService).relay; const store = relay.store();
  const phase: Record<string, LatencySamples> = { claim: new LatencySamples(), publish: new LatencySamples(), mark: new LatencySamples() };
  for (const [name, method] of [['claim', 'claim'], ['mark', 'markSent']] as const) { const o = store[method].bind(store); store[method] = async (...args: any[]) => { const t = nowMs(); try { return await o(...args); } finally { phase[name]!.add(nowMs() - t); } }; }
  const o2 = (transport as any).publish; (transport as any).publish = async (b: any) => { const t = nowMs(); try { return await o2(b); } finally { phase.publish!.add(nowMs() - t); } };
  const lag = new LatencySamples(); let lt = nowMs(); const lagTimer = setInterval(() => { const n = nowMs(); lag.add(n - lt - 10); lt = n; }, 10);
  const committed = new Map<string, number>();
  const load = await openLoop({ ratePerSec: 1000, durationMs: 3000, maxOutstanding: 20000, send: async (seq, at) => {
    const id = 'o' + seq; await pub.transaction(async (m) => { await m.insert(BenchOrder, orderRow(id)); await pub.publish({ topic: TOPIC, key: id, payload: orderPayload(id, at) }, { manager: m }); }); committed.set(id, nowMs()); } });
  await waitUntil(() => a.at.size >= load.sent, 30000);
  const c2conf = new LatencySamples(), conf2h = new LatencySamples(), tot = new LatencySamples();
  for (const [id, c] of committed) { const f = confirmed.get(id)!, h = a.at.get(id)!; c2conf.add(f - c); conf2h.add(h - f); tot.add(h - c); }
  const f = (s: LatencySamples) => s.percentiles([50, 90, 99]).map((v) => v!.toFixed(1)).join('/');
  console.log(kind, dedupKind, 'commit→confirm', f(c2conf), 'confirm→handler', f(conf2h), 'total', f(tot), 'batches', batchSizes.length, 'avg', (committed.size / batchSizes.length).toFixed(1), (app.get(OutboxRelayService).metrics()));
  clearInterval(lagTimer);
  for (const [k, v] of Object.entries(phase)) console.log(k, v.count, f(v), 'mean', v.mean()!.toFixed(1));
  console.log('loop lag', f(lag), 'max', Math.max(...lag.toArray()).toFixed(0));
  await app.close(); await db.dispose();
})();
