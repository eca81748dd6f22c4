import { parentPort, workerData } from 'node:worker_threads';
import { BrokerEngine } from '../broker-engine';
import type { Handout } from '../consume/handout';
import type { Delivery, EngineOptions, HalfMessage, Subscription, TransactionOutcome } from '../engine.types';
import { DeliveryReleasedError } from '../errors';
import { SharedSkewClock } from './shared-skew-clock';
import { TickPoster } from './tick-poster';
import {
  AwaitedReplies,
  compactBytes,
  errorToWire,
  postOutcome,
  reviveBytes,
  type FromWorker,
  type ToWorker,
  type WorkerStart,
} from './worker-wire';

/**
 * The engine's thread: opens the engine on the data directory and runs every call the application's thread posts.
 * The database, its commits and fsyncs, and the engine's timers all live here; the application's thread only sees
 * messages. Handlers and transaction checkers stay in the application's thread: a delivery is posted there and its
 * outcome posted back, as a remote member's would be.
 */
/** The outcome of a delivery the application's thread gives back unhandled: the engine takes the message back. */
const RELEASED = errorToWire(new DeliveryReleasedError('given back unhandled by the application thread'));

function runEngineWorker(start: WorkerStart): void {
  const port = parentPort!;
  const out = new TickPoster<FromWorker>(port);
  const settlements = new AwaitedReplies<void>();
  const answers = new AwaitedReplies<TransactionOutcome>();
  const subscriptions = new Map<number, Subscription>();
  const checkers = new Map<number, () => void>();

  let engine: BrokerEngine;
  try {
    engine = BrokerEngine.open({
      ...(start.options as unknown as EngineOptions),
      ...(start.clockSkew ? { clock: new SharedSkewClock(start.clockSkew) } : {}),
      onError: (error) => out.post({ t: 'error', error: errorToWire(error) }),
      onWarning: (message) => out.post({ t: 'warning', message }),
    });
  } catch (error) {
    port.postMessage([{ t: 'opened', error: errorToWire(error) }]);
    return;
  }
  port.postMessage([{ t: 'opened' }]);

  // Hand-outs of deliveries not yet settled, for the application's thread to start.
  const handouts = new Map<number, Handout>();

  const deliver = (sub: number, message: Delivery, handout: Handout): Promise<void> =>
    settlements.ask((delivery) => {
      handouts.set(delivery, handout);
      out.post({
        t: 'deliver',
        sub,
        delivery,
        deadline: handout.deadline,
        message: { ...message, body: compactBytes(message.body) },
      });
    });

  const ask = (checker: number, half: HalfMessage): Promise<TransactionOutcome> =>
    answers.ask((check) => out.post({ t: 'check', checker, check, half: compactBytes(half) }));

  const answer = (id: number, work: () => unknown): void =>
    postOutcome(work, 'call', ({ value, error }) =>
      out.post(error ? { t: 'result', id, error } : { t: 'result', id, value: compactBytes(value) }),
    );

  const handle = (message: ToWorker): void => {
    switch (message.t) {
      case 'call': {
        const method = engine[message.method] as (...args: unknown[]) => unknown;
        return answer(message.id, () => method.apply(engine, reviveBytes(message.args)));
      }
      case 'redistribute': {
        const [group, fromTopic, target] = message.args as [string, string, Record<string, unknown>];
        const onProgress = message.progress
          ? (moved: number) => out.post({ t: 'progress', id: message.id, moved })
          : undefined;
        return answer(message.id, () => engine.redistributeBacklog(group, fromTopic, { ...target, onProgress }));
      }
      case 'subscribe':
        return answer(message.id, async () => {
          const subscription = await engine.subscribeReadingAhead(
            message.options,
            message.readAhead,
            (delivery, handout) => deliver(message.sub, delivery, handout),
          );
          subscriptions.set(message.sub, subscription);
          return { memberId: subscription.memberId };
        });
      case 'unsubscribe':
        return answer(message.id, async () => {
          const subscription = subscriptions.get(message.sub);
          subscriptions.delete(message.sub);
          await subscription?.close(message.timeoutMs);
        });
      case 'assigned':
        return answer(message.id, () => subscriptions.get(message.sub)?.assignedQueues() ?? []);
      case 'settle':
        handouts.delete(message.delivery);
        return settlements.reply(message.delivery, undefined, message.error);
      case 'begin':
        handouts.get(message.delivery)?.started();
        return;
      case 'release':
        handouts.delete(message.delivery);
        return settlements.reply(message.delivery, undefined, RELEASED);
      case 'checker':
        return answer(message.id, () => {
          checkers.set(
            message.checker,
            engine.registerTransactionChecker(message.producerGroup, (half) => ask(message.checker, half)),
          );
        });
      case 'unchecker':
        return answer(message.id, () => {
          checkers.get(message.checker)?.();
          checkers.delete(message.checker);
        });
      case 'answer':
        return answers.reply(message.check, message.outcome!, message.error);
      case 'close':
        engine.close(message.timeoutMs).then(
          () => {
            // The answer goes out before the port closes; the application's thread then ends this one.
            out.post({ t: 'result', id: message.id });
            out.flush();
            port.close();
          },
          (error: unknown) => out.post({ t: 'result', id: message.id, error: errorToWire(error) }),
        );
        return;
    }
  };

  port.on('message', (batch: ToWorker[]) => {
    for (const message of batch) handle(message);
  });
}

runEngineWorker(workerData as WorkerStart);
