/**
 * A broker process for the crash test: `node engine-crash.child.ts <dataDir> <run> <crash|drain> [main|worker]`: the
 * engine in the process's main thread (default) or on a worker thread (`WorkerEngine`), killed either way as a whole.
 *
 * `crash`: opens the engine, consumes with the crash group, and publishes batches until the parent SIGKILLs it.
 * `drain`: publishes nothing, consumes until the crash group has nothing left, closes the engine cleanly and exits 0.
 *
 * Every fact goes to stdout as one JSON line (see engine-crash.protocol.ts), written with a blocking `writeSync`
 * before the engine can act on it, so nothing the parent reads is contradicted by a kill that follows.
 */
import {
  BrokerEngine,
  WorkerEngine,
  type Delivery,
  type PublishMessage,
  type WorkerEngineOptions,
} from '@reliable-mq/engine';
import { writeLineSync } from '../support/child-lines';
import {
  CRASH_GROUP,
  CRASH_MAX_RECONSUME,
  CRASH_MEMBER,
  CRASH_RETRY_LEVELS,
  CRASH_TOPICS,
  groupViewOf,
  headsOf,
  keyOf,
  messageIdOf,
  plannedFailures,
  topicOf,
  type ChildLine,
  type CrashBody,
} from './engine-crash.protocol';

/** A crash run that is never killed stops here, so a broken parent cannot leave it running. */
const CRASH_RUN_LIMIT_MS = 20_000;
const CRASH_RUN_MAX_BATCHES = 20_000;
const DRAIN_LIMIT_MS = 60_000;
const STATS_INTERVAL_MS = 25;
const PRODUCERS = 2;

const emit = (line: ChildLine): void => writeLineSync(line);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const randomInt = (below: number): number => Math.floor(Math.random() * below);

async function main(): Promise<void> {
  const [dataDir, runText, mode, thread = 'main'] = process.argv.slice(2);
  const run = Number(runText);
  if (
    !dataDir ||
    !Number.isInteger(run) ||
    (mode !== 'crash' && mode !== 'drain') ||
    !['main', 'worker'].includes(thread)
  ) {
    throw new Error('usage: engine-crash.child.ts <dataDir> <run> <crash|drain> [main|worker]');
  }

  const options: WorkerEngineOptions = {
    dataDir,
    flush: 'sync',
    onError: (error) => emit({ kind: 'error', message: String(error.stack ?? error) }),
  };
  const engine = thread === 'worker' ? await WorkerEngine.open(options) : BrokerEngine.open(options);
  for (const topic of CRASH_TOPICS) await engine.createTopic(topic.name, { queueCount: topic.queueCount });
  const opened = await engine.stats();
  emit({ kind: 'open', run, pid: process.pid, view: groupViewOf(opened, CRASH_GROUP), heads: headsOf(opened) });

  const handler = async (delivery: Delivery): Promise<void> => {
    const id = delivery.originalMessageId;
    emit({
      kind: 'delivered',
      id,
      reconsume: delivery.reconsumeTimes,
      deliveryCount: delivery.deliveryCount,
      source: delivery.sourceTopic,
      queueId: delivery.queueId,
      queueOffset: delivery.queueOffset,
    });
    // Keep several handlers in flight at once, so kills land between delivery and ack.
    await sleep(randomInt(3));
    const body = JSON.parse(delivery.body.toString('utf8')) as CrashBody;
    if (delivery.reconsumeTimes < plannedFailures(body.seq, delivery.topic)) {
      emit({ kind: 'failed', id, reconsume: delivery.reconsumeTimes });
      throw new Error(`planned failure ${delivery.reconsumeTimes + 1} of ${id}`);
    }
    emit({ kind: 'acked', id, reconsume: delivery.reconsumeTimes });
  };
  // Orders first: only orders fail, so every retry copy has its subscription by the time it is read.
  for (const topic of CRASH_TOPICS) {
    await engine.subscribe({
      group: CRASH_GROUP,
      topic: topic.name,
      memberId: CRASH_MEMBER,
      startFrom: 'earliest',
      prefetch: 16,
      retry: { delayLevels: CRASH_RETRY_LEVELS, maxReconsumeTimes: CRASH_MAX_RECONSUME },
      handler,
    });
  }

  // With the engine on a worker thread the figures are read there: any offset they show committed was acked by a
  // handler here before, so its `acked` line is already out.
  const snapshot = async (): Promise<ReturnType<typeof groupViewOf>> => {
    const stats = await engine.stats();
    const view = groupViewOf(stats, CRASH_GROUP);
    if (view) emit({ kind: 'stats', view, scheduledPending: stats.scheduledPending });
    return view;
  };
  const statsTimer = setInterval(() => {
    snapshot().catch((error: unknown) => emit({ kind: 'error', message: String(error) }));
  }, STATS_INTERVAL_MS);

  if (mode === 'crash') {
    emit({ kind: 'producing' });
    const stopAt = Date.now() + CRASH_RUN_LIMIT_MS;
    let seq = 0;
    let batchNo = 0;
    const produce = async (): Promise<void> => {
      while (Date.now() < stopAt && batchNo < CRASH_RUN_MAX_BATCHES) {
        const batch = ++batchNo;
        const messages: PublishMessage[] = [];
        for (let size = 1 + randomInt(8); size > 0; size--) {
          const next = seq++;
          const body: CrashBody = { run, seq: next };
          messages.push({
            messageId: messageIdOf(run, next),
            topic: topicOf(next),
            key: keyOf(next),
            body: JSON.stringify(body),
          });
        }
        emit({ kind: 'intent', batch, ids: messages.map((message) => message.messageId!) });
        try {
          const results = await engine.publish(messages);
          emit({
            kind: 'confirmed',
            batch,
            results: results.map((result) => ({
              id: result.messageId,
              topic: result.topic,
              queueId: result.queueId,
              queueOffset: result.queueOffset,
            })),
          });
        } catch (error) {
          emit({ kind: 'rejected', batch, error: String(error) });
        }
        await sleep(randomInt(4));
      }
    };
    await Promise.all(Array.from({ length: PRODUCERS }, produce));
    emit({ kind: 'error', message: `crash run ${run} was not killed within its limit` });
    process.exit(3);
  }

  const stopAt = Date.now() + DRAIN_LIMIT_MS;
  let idleChecks = 0;
  while (idleChecks < 3) {
    if (Date.now() > stopAt) {
      emit({ kind: 'error', message: `drain run ${run} did not finish within ${DRAIN_LIMIT_MS} ms` });
      process.exit(4);
    }
    await sleep(20);
    const stats = await engine.stats();
    const view = groupViewOf(stats, CRASH_GROUP);
    const idle =
      view !== null && view.lag === 0 && view.inFlight === 0 && view.retryPending === 0 && stats.scheduledPending === 0;
    idleChecks = idle ? idleChecks + 1 : 0;
  }
  clearInterval(statsTimer);
  const final = await engine.stats();
  const view = await snapshot();
  await engine.close(5_000);
  emit({ kind: 'drained', view: view!, heads: headsOf(final) });
  process.exit(0);
}

main().catch((error: unknown) => {
  emit({ kind: 'error', message: String((error as Error).stack ?? error) });
  process.exit(2);
});
