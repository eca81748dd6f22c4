import { BrokerRestartPolicy } from './broker-restart-policy';
import type { ChildSupervisor } from './child-supervisor';
import { awaitReady, type PartChild } from './sample-parts';
import type { SampleBrokerRestartOptions, SamplePartExit } from './sample-processes.types';

/** What `superviseBroker` needs from the sample around it. */
export interface BrokerSupervision {
  supervisor: ChildSupervisor;
  first: PartChild;
  /** The environment a restart amends: the same port as the first run, even when BROKER_PORT=0 picked it. */
  restartEnv: Record<string, string>;
  timeout: number;
  /** The restarted broker takes the place of the one that died: close() stops it, `pids.broker` names it. */
  replaced(next: PartChild): void;
  closing(): boolean;
  /** Resolves after the wait, or at once when the sample closes. */
  backoff(ms: number): Promise<void>;
}

const never = (): Promise<never> => new Promise<never>(() => undefined);

/**
 * Restarts the broker each time it exits while the sample is not closing, after the policy's backoff; settles (with
 * the last exit and the policy's reason) only when the policy gives up. A restarted broker that never says it is ready
 * is killed and counts as one more exit.
 */
export async function superviseBroker(
  restart: SampleBrokerRestartOptions,
  supervision: BrokerSupervision,
): Promise<SamplePartExit & { reason: string }> {
  const policy = new BrokerRestartPolicy(restart.limits);
  let current = supervision.first;
  for (;;) {
    const ended = await current.child.closed;
    if (supervision.closing()) return never();
    const decision = policy.onExit(Date.now());
    if (!decision.restart) return { name: 'broker', ...ended, reason: decision.reason };
    restart.onEvent({ kind: 'exited', ...ended, delayMs: decision.delayMs, count: decision.count });
    await supervision.backoff(decision.delayMs);
    if (supervision.closing()) return never();
    const next = {
      part: current.part,
      child: supervision.supervisor.startAgain(current.child, supervision.restartEnv),
    };
    supervision.replaced(next);
    current = next;
    try {
      const ready = await awaitReady<{ url: string }>(next, 'BROKER_READY', supervision.timeout);
      restart.onEvent({ kind: 'back', url: ready.url, pid: next.child.pid!, count: decision.count });
    } catch (error) {
      if (supervision.closing()) return never();
      restart.onEvent({ kind: 'start-failed', message: (error as Error).message, count: decision.count });
      next.child.signal('SIGKILL');
    }
  }
}
