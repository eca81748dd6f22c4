import type { Attributes, Meter, ObservableCounter } from '@opentelemetry/api';
import type { MetricDescription } from './metric-names';

/** One attribute set of one counter: a plain number the hot path adds to, read when a metrics reader collects. */
export interface CounterCell {
  readonly attributes: Attributes;
  value: number;
}

/**
 * The hot-path counters of one meter, counted in plain memory and published through observable counters that a
 * reader (a Prometheus scrape, a periodic export) reads when it collects. A synchronous counter's `add` makes the
 * metrics SDK hash the attribute set on every call; here the hot path adds to a cell it found once per attribute set,
 * and the SDK sees each set once per collection. A reader sees the same thing: a monotonic sum per attribute set,
 * cumulative, under the same name, unit and description (Prometheus `…_total`).
 *
 * One instance per meter, shared by every telemetry object of the process that records through it: they share the
 * SDK's instrument storage as synchronous counters did, and two observations of one attribute set would otherwise
 * disagree. A meter of another provider (a test, a second SDK) gets its own cells.
 * @internal
 */
export class LocalCounters {
  private readonly cellsByMetric = new Map<string, Map<string, CounterCell>>();

  static of(meter: Meter, metrics: readonly MetricDescription[]): LocalCounters {
    let counters = countersByMeter.get(meter);
    if (!counters) {
      counters = new LocalCounters(meter, metrics);
      countersByMeter.set(meter, counters);
    }
    return counters;
  }

  private constructor(meter: Meter, metrics: readonly MetricDescription[]) {
    const instruments = new Map<string, ObservableCounter>();
    for (const metric of metrics) {
      this.cellsByMetric.set(metric.name, new Map());
      instruments.set(
        metric.name,
        meter.createObservableCounter(metric.name, { unit: metric.unit, description: metric.description }),
      );
    }
    meter.addBatchObservableCallback(
      (result) => {
        for (const [name, cells] of this.cellsByMetric) {
          const instrument = instruments.get(name)!;
          for (const cell of cells.values()) result.observe(instrument, cell.value, cell.attributes);
        }
      },
      [...instruments.values()],
    );
  }

  /**
   * The cell of `metric` for `attributes`, created at zero on first use (a reader sees it from then on, as a
   * synchronous counter's point appears on its first `add`). Callers on the hot path keep the cell they get.
   */
  cell(metric: MetricDescription, attributes: Attributes): CounterCell {
    const cells = this.cellsByMetric.get(metric.name);
    if (!cells) throw new Error(`${metric.name} is not one of the locally counted instruments.`);
    const key = JSON.stringify(
      Object.keys(attributes)
        .sort()
        .map((name) => [name, attributes[name]]),
    );
    let cell = cells.get(key);
    if (!cell) {
      cell = { attributes, value: 0 };
      cells.set(key, cell);
    }
    return cell;
  }
}

// Keyed by the meter, which the SDK itself shares process-wide per provider and instrumentation scope; a meter that
// is no longer referenced (its provider replaced) takes its cells with it.
const countersByMeter = new WeakMap<Meter, LocalCounters>();
