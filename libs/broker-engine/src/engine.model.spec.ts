import {
  BrokerEngine,
  WorkerEngine,
  type ConsumeMode,
  type Delivery,
  type EngineOptions,
  type Subscription,
  type WorkerSubscription,
} from '@reliable-mq/engine';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sleep, tempDataDir } from '../test/engine-test-kit';
import { nextTurn, SkewedClock } from '../test/manual-clock';

/**
 * Model test: random schedules of publishes, handler outcomes, member joins and leaves,
 * consume timeouts and graceful restarts, checked against what the engine promises.
 * MODEL_RUNS scales the number of schedules per property (default 100). The same schedules run against the engine
 * in the test's thread and against the engine on a worker thread.
 */

const RUNS = Number(process.env.MODEL_RUNS ?? 100);
/** A schedule takes ~0.15 s on the reference machine; leave room for a loaded one and for shrinking a failure. */
const PROPERTY_TIMEOUT_MS = Math.max(60_000, RUNS * 1_500);
const TOPIC = 'model';
const GROUP = 'g';
const WITNESS = 'w';
const CONSUME_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 100;
const MAX_RECONSUME = 2;
/** How long the engine must have been at rest before a time jump (see quiesce). */
const QUIET_MS = 30;

/** What the handler does on the n-th delivery of a message; past the plan it succeeds. */
type Behaviour = 'ok' | 'slow' | 'fail' | 'fatal' | 'hang';

type Command =
  | { kind: 'publish'; messages: Array<{ key: string; plan: Behaviour[] }> }
  | { kind: 'join' }
  | { kind: 'leave'; pick: number; turns: number }
  | { kind: 'restart'; turns: number }
  | { kind: 'timeout' }
  | { kind: 'pause'; turns: number };

const behaviour = fc.oneof(
  { arbitrary: fc.constant<Behaviour>('ok'), weight: 4 },
  { arbitrary: fc.constant<Behaviour>('slow'), weight: 2 },
  { arbitrary: fc.constant<Behaviour>('fail'), weight: 3 },
  { arbitrary: fc.constant<Behaviour>('hang'), weight: 1 },
  { arbitrary: fc.constant<Behaviour>('fatal'), weight: 1 },
);

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('publish' as const),
      messages: fc.array(
        fc.record({ key: fc.constantFrom('k0', 'k1', 'k2', 'k3', 'k4'), plan: fc.array(behaviour, { maxLength: 4 }) }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
    weight: 6,
  },
  { arbitrary: fc.constant({ kind: 'join' as const }), weight: 2 },
  // `turns`: event-loop turns before closing, so closes land just after deliveries, failures and their retry writes.
  {
    arbitrary: fc.record({
      kind: fc.constant('leave' as const),
      pick: fc.nat(7),
      turns: fc.integer({ min: 0, max: 2 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('restart' as const), turns: fc.integer({ min: 0, max: 2 }) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'timeout' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('pause' as const), turns: fc.integer({ min: 1, max: 4 }) }), weight: 2 },
);

const schedule = fc.record({
  queueCount: fc.integer({ min: 1, max: 4 }),
  // The group exists from the start ('latest' would rightly skip what came before it); later it may drop to no members.
  initialMembers: fc.integer({ min: 1, max: 2 }),
  commands: fc.array(command, { minLength: 3, maxLength: 18 }),
});

interface Sent {
  index: number;
  key: string;
  plan: Behaviour[];
  messageId: string;
  attempts: number;
  successes: number;
}

/** The fate the engine must reach for a clustering message: retries count failures exactly, hangs do not count. */
function expectedFate(plan: Behaviour[]): 'success' | 'dead' {
  let failures = 0;
  for (const step of plan) {
    if (step === 'ok' || step === 'slow') return 'success';
    if (step === 'fatal') return 'dead';
    if (step === 'fail' && ++failures > MAX_RECONSUME) return 'dead';
  }
  return 'success';
}

class ModelRun {
  private readonly clock = new SkewedClock();
  private readonly temp = tempDataDir();
  private engine!: BrokerEngine | WorkerEngine;
  private readonly members = new Map<string, Subscription | WorkerSubscription | null>();
  private nextMember = 0;
  readonly sent = new Map<string, Sent>();
  private readonly byIndex: Sent[] = [];
  /** Successful completions per key, in completion order (message indexes). */
  readonly successOrder = new Map<string, number[]>();
  readonly witnessSuccesses = new Map<string, number>();
  readonly errors: Error[] = [];
  private slowPending = 0;
  readonly log: string[] = [];

  constructor(
    private readonly host: EngineHost,
    private readonly mode: ConsumeMode,
    private readonly queueCount: number,
  ) {}

  private async open(): Promise<void> {
    this.engine = await this.host.open({
      dataDir: this.temp.dir,
      clock: this.clock,
      minFreeDiskBytes: 0,
      consumeTimeoutMs: CONSUME_TIMEOUT_MS,
      sessionTimeoutMs: 10 * CONSUME_TIMEOUT_MS,
      maintenanceIntervalMs: 20,
      onError: (error) => this.errors.push(error),
    });
  }

  async start(initialMembers: number): Promise<void> {
    await this.open();
    await this.engine.createTopic(TOPIC, { queueCount: this.queueCount });
    await this.subscribeWitness();
    for (let i = 0; i < initialMembers; i++) await this.join();
  }

  private async subscribeWitness(): Promise<void> {
    await this.engine.subscribe({
      group: WITNESS,
      topic: TOPIC,
      memberId: 'witness',
      handler: async (delivery) => {
        const id = delivery.originalMessageId;
        this.witnessSuccesses.set(id, (this.witnessSuccesses.get(id) ?? 0) + 1);
      },
    });
  }

  /** Handlers hung per member, as long as the engine still holds their messages in flight. */
  private readonly hung = new Map<string, number>();

  private handlerOf =
    (memberId: string) =>
    async (delivery: Delivery): Promise<void> => {
      const sent = this.sent.get(delivery.originalMessageId);
      if (!sent) throw new Error(`unknown message ${delivery.originalMessageId}`);
      const step = sent.plan[sent.attempts++] ?? 'ok';
      this.log.push(`deliver #${sent.index} (${step}) from ${delivery.sourceTopic} rc=${delivery.reconsumeTimes}`);
      switch (step) {
        case 'ok':
          break;
        case 'slow':
          this.slowPending++;
          try {
            for (let i = 0; i < 3; i++) await nextTurn();
          } finally {
            this.slowPending--;
          }
          break;
        case 'fail':
          throw new Error(`planned failure of #${sent.index}`);
        case 'fatal':
          throw Object.assign(new Error(`planned fatal failure of #${sent.index}`), { nonRetryable: true });
        case 'hang':
          this.hung.set(memberId, (this.hung.get(memberId) ?? 0) + 1);
          return new Promise<void>(() => undefined);
      }
      sent.successes++;
      const order = this.successOrder.get(sent.key) ?? [];
      order.push(sent.index);
      this.successOrder.set(sent.key, order);
    };

  private async subscribeMember(memberId: string): Promise<Subscription | WorkerSubscription> {
    return this.engine.subscribe({
      group: GROUP,
      topic: TOPIC,
      memberId,
      mode: this.mode,
      retry: { delayLevels: '1ms', maxReconsumeTimes: MAX_RECONSUME, orderlyRetryPauseMs: 1 },
      handler: this.handlerOf(memberId),
    });
  }

  private async join(): Promise<void> {
    const id = `m${this.nextMember++}`;
    this.members.set(id, await this.subscribeMember(id));
  }

  /** Slow handlers finish within a few turns; wait for them so only hangs outlive a close or a timeout. */
  private async settleSlow(): Promise<void> {
    for (let i = 0; this.slowPending > 0; i++) {
      if (i > 2000) throw new Error('slow handlers did not finish');
      await nextTurn();
    }
  }

  /** Past every consume timeout: whatever is in flight now (only hung handlers, see quiesce) is handed out again. */
  private timeOut(): void {
    this.clock.advance(CONSUME_TIMEOUT_MS + 1);
    this.hung.clear();
  }

  /**
   * Waits until nothing moves: slow handlers done, the only messages in flight those of hung handlers, and the
   * engine's in-flight and lag figures and the handler calls the same for QUIET_MS. A time jump then times out
   * hung handlers only, as the schedule means it; with the engine on another thread, a delivery or an outcome may
   * otherwise still be on its way between the threads.
   */
  private async quiesce(): Promise<void> {
    let last = '';
    let since = Date.now();
    for (let round = 0; round < 2000; round++) {
      await this.settleSlow();
      const stats = await this.engine.stats();
      await this.turns(2);
      const inFlight = (group: string) =>
        stats.groups.filter((g) => g.group === group && g.topic === TOPIC).reduce((sum, g) => sum + g.inFlight, 0);
      const hung = [...this.hung.values()].reduce((sum, count) => sum + count, 0);
      const attempts = this.byIndex.reduce((sum, sent) => sum + sent.attempts, 0);
      const now = JSON.stringify([attempts, stats.groups.map((g) => [g.group, g.topic, g.inFlight, g.lag])]);
      const resting = now === last && inFlight(GROUP) === hung && inFlight(WITNESS) === 0;
      // At rest for longer than any timer of the schedule (maintenance every 20 ms, 1 ms pauses and retry delays), so
      // no held queue or due retry is about to hand a message out just as time jumps.
      if (resting && Date.now() - since >= QUIET_MS) return;
      if (!resting) since = Date.now();
      last = now;
    }
    throw new Error(`the engine did not come to rest:\n${await this.describe()}`);
  }

  private async turns(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await nextTurn();
  }

  async apply(cmd: Command): Promise<void> {
    this.log.push(JSON.stringify(cmd));
    switch (cmd.kind) {
      case 'publish': {
        const results = await this.engine.publish(
          cmd.messages.map((m) => ({ topic: TOPIC, key: m.key, body: `#${this.byIndex.length}` })),
        );
        // Record before any delivery can look the message up: deliveries start on a later turn.
        results.forEach((result, i) => {
          const entry: Sent = {
            index: this.byIndex.length,
            key: cmd.messages[i]!.key,
            plan: cmd.messages[i]!.plan,
            messageId: result.messageId,
            attempts: 0,
            successes: 0,
          };
          this.byIndex.push(entry);
          this.sent.set(result.messageId, entry);
        });
        return;
      }
      case 'join':
        return this.join();
      case 'leave': {
        const live = [...this.members.keys()];
        if (live.length === 0) return;
        const id = live[cmd.pick % live.length]!;
        await this.turns(cmd.turns);
        await this.settleSlow();
        await this.members.get(id)!.close(CLOSE_TIMEOUT_MS);
        this.members.delete(id);
        // Its hung messages were released to the others when it left.
        this.hung.delete(id);
        return;
      }
      case 'restart': {
        await this.turns(cmd.turns);
        await this.settleSlow();
        await this.engine.close(CLOSE_TIMEOUT_MS);
        this.hung.clear();
        await this.open();
        await this.subscribeWitness();
        for (const id of this.members.keys()) this.members.set(id, await this.subscribeMember(id));
        return;
      }
      case 'timeout':
        await this.quiesce();
        this.timeOut();
        await this.engine.runMaintenance();
        return;
      case 'pause':
        for (let i = 0; i < cmd.turns; i++) await nextTurn();
        await sleep(1);
        return;
    }
  }

  private async deadLetters() {
    return (await this.engine.listDeadLetters({ group: GROUP, status: 'any', limit: 1000 })).items;
  }

  private async resolved(): Promise<boolean> {
    const dead = new Set((await this.deadLetters()).map((letter) => letter.originalMessageId));
    for (const sent of this.byIndex) {
      if (sent.successes === 0 && !dead.has(sent.messageId)) return false;
      if ((this.witnessSuccesses.get(sent.messageId) ?? 0) === 0) return false;
    }
    return true;
  }

  /** Keeps one member and pushes time past consume timeouts until every message has an outcome. */
  async drain(): Promise<void> {
    this.log.push('drain');
    if (this.members.size === 0) await this.join();
    const started = Date.now();
    while (!(await this.resolved())) {
      if (Date.now() - started > 20_000) throw new Error(`not drained:\n${await this.describe()}`);
      await this.quiesce();
      this.timeOut();
      await this.engine.runMaintenance();
      await sleep(5);
    }
    // Anything delivered twice would show up shortly after.
    await sleep(20);
  }

  async describe(): Promise<string> {
    const dead = await this.deadLetters();
    const lines = this.byIndex.map((s) => {
      const letters = dead.filter((l) => l.originalMessageId === s.messageId).length;
      return `#${s.index} key=${s.key} plan=${s.plan.join(',') || '-'} attempts=${s.attempts} ok=${s.successes} dlq=${letters} witness=${this.witnessSuccesses.get(s.messageId) ?? 0}`;
    });
    return [...lines, '--- log', ...this.log.slice(-80), '--- errors', ...this.errors.map(String)].join('\n');
  }

  async checkEveryMessageHasOneFate(exactFate: boolean): Promise<void> {
    const dead = await this.deadLetters();
    const described = await this.describe();
    for (const sent of this.byIndex) {
      const letters = dead.filter((letter) => letter.originalMessageId === sent.messageId);
      const context = `message #${sent.index}\n${described}`;
      expect(sent.successes, `successes of ${context}`).toBeLessThanOrEqual(1);
      expect(letters.length, `dead letters of ${context}`).toBeLessThanOrEqual(1);
      expect(sent.successes + letters.length, `fates of ${context}`).toBe(1);
      for (const letter of letters) expect(letter.reason, `reason of ${context}`).toMatch(/planned/);
      if (exactFate) {
        expect(sent.successes === 1 ? 'success' : 'dead', `fate of ${context}`).toBe(expectedFate(sent.plan));
      }
      expect(this.witnessSuccesses.get(sent.messageId) ?? 0, `witness group, ${context}`).toBe(1);
    }
  }

  async checkPerKeyOrder(): Promise<void> {
    const described = await this.describe();
    for (const [key, order] of this.successOrder) {
      expect(order, `order of key ${key}\n${described}`).toEqual([...order].sort((a, b) => a - b));
    }
  }

  async dispose(): Promise<void> {
    await this.engine.close(CLOSE_TIMEOUT_MS);
    this.temp.cleanup();
  }
}

async function runSchedule(
  host: EngineHost,
  mode: ConsumeMode,
  input: { queueCount: number; initialMembers: number; commands: Command[] },
  check: (run: ModelRun) => Promise<void>,
): Promise<void> {
  const run = new ModelRun(host, mode, input.queueCount);
  try {
    await run.start(input.initialMembers);
    for (const cmd of input.commands) await run.apply(cmd);
    await run.drain();
    await check(run);
    expect(run.errors, await run.describe()).toEqual([]);
  } finally {
    await run.dispose();
  }
}

/** Where the engine under test runs. */
interface EngineHost {
  name: string;
  runs: number;
  /** Shrink a failing schedule; a worker engine's restarts make shrinking outlast the test, so it reports the first. */
  shrink: boolean;
  open(options: EngineOptions & { clock: SkewedClock }): Promise<BrokerEngine | WorkerEngine>;
}

const HOSTS: EngineHost[] = [
  { name: 'in this thread', runs: RUNS, shrink: true, open: async (options) => BrokerEngine.open(options) },
  // A fifth of the schedules: each (re)start of the worker compiles the engine from source, about 0.5 s.
  {
    name: 'on a worker thread',
    runs: Math.max(1, Math.round(RUNS / 5)),
    shrink: false,
    open: (options) => WorkerEngine.open(options),
  },
];

describe.each(HOSTS)('engine model, $name', (host) => {
  it(
    `clustering: every confirmed message succeeds exactly once per group or sits in the DLQ (${host.runs} schedules)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(schedule, (input) =>
          runSchedule(host, 'concurrent', input, (run) => run.checkEveryMessageHasOneFate(true)),
        ),
        { numRuns: host.runs, endOnFailure: !host.shrink },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    `orderly: successes of each key arrive in publish order, and nothing is lost (${host.runs} schedules)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(schedule, (input) =>
          runSchedule(host, 'orderly', input, async (run) => {
            await run.checkEveryMessageHasOneFate(false);
            await run.checkPerKeyOrder();
          }),
        ),
        { numRuns: host.runs, endOnFailure: !host.shrink },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});
