import type { LatencySamples } from './samples';
import type { ServiceName } from './services';

export type BenchMode = 'full' | 'quick' | 'smoke';

export interface BenchContext {
  mode: BenchMode;
  /** Short token unique to this run; every queue, schema, key prefix and directory it creates carries it. */
  runId: string;
  /** Directory for this run's databases; removed at the end. */
  tmpRoot: string;
  /** Picks the figure for the current mode. */
  size<T>(sizes: { full: T; quick: T; smoke: T }): T;
  services: Readonly<Record<ServiceName, boolean>>;
}

/** What one round of one measurement produced. */
export interface Sample {
  /** Messages (or transactions) completed in the measured window. */
  count: number;
  elapsedMs: number;
  latencies: LatencySamples;
  errors?: number;
  firstError?: string;
  /** Figures specific to the scenario (e.g. skipped sends of an open loop), summed over rounds. */
  extra?: Record<string, number>;
}

export interface Measurement {
  /** Stable identifier, e.g. `engine.publish.sync.c64`. */
  name: string;
  /** The scenario number of the suite specification (1–8). */
  group: number;
  title: string;
  /** Name of the measurement this one is compared with (ratio = msgsPerSec / baseline msgsPerSec). */
  baseline?: string;
  /** Services that must answer; otherwise the measurement is reported as skipped with the reason. */
  requires?: readonly ServiceName[];
  /**
   * Asked once the suite's setup has run: a reason why the measurement cannot run here (e.g. a server binary too old
   * for the setting it measures) reports it as skipped with that reason; undefined lets it run.
   */
  unavailable?(): string | undefined;
  /** What the latency figures measure, for the report. */
  latencyOf: string;
  run(round: number): Promise<Sample>;
}

export interface Suite {
  id: string;
  title: string;
  /** Rounds; each round runs every measurement once, in order, so related figures interleave in time. */
  rounds: number;
  measurements: Measurement[];
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

export type SuiteFactory = (ctx: BenchContext) => Suite;

export interface ScenarioResult {
  name: string;
  group: number;
  title: string;
  /** Median over rounds of each round's rate; null when skipped or failed. */
  msgsPerSec: number | null;
  /** Over the samples of all rounds. */
  p50Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  /** Name of the scenario compared with, or null. */
  baseline: string | null;
  /** msgsPerSec / baseline's msgsPerSec, or null. */
  ratio: number | null;
  count: number;
  durationMs: number;
  rounds: number;
  roundRates: number[];
  latencyOf: string;
  extra?: Record<string, number>;
  skipped?: string;
  error?: string;
}

export interface TargetResult {
  id: string;
  text: string;
  /** How the figure was computed, with the numbers. */
  measured: string;
  pass: boolean | null;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  disk: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
  /** Share of the last minute some task stalled on CPU or I/O (Linux PSI), at start and end. */
  pressureAtStart?: string;
  pressureAtEnd?: string;
  services: Record<string, string>;
}

export interface BenchResults {
  machine: MachineInfo;
  runAt: string;
  mode: BenchMode;
  durationSec: number;
  scenarios: ScenarioResult[];
  targets: TargetResult[];
}
