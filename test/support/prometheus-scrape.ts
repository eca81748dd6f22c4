import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** One sample of a family as the parser gives it: values stay text, as in the exposition. */
interface ParsedSample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: ParsedSample[];
}

/** A parsed scrape, with lookups that fail loudly when a family or a series is missing. */
export class Scrape {
  readonly families: Map<string, MetricFamily>;

  constructor(readonly text: string) {
    const parsed = parsePrometheusTextFormat(splitHistograms(text)) as MetricFamily[];
    this.families = new Map(parsed.map((family) => [family.name, family]));
  }

  family(name: string): MetricFamily {
    const family = this.families.get(name);
    if (!family)
      throw new Error(`No metric family ${name} in the scrape; it has ${[...this.families.keys()].join(', ')}`);
    return family;
  }

  /** The samples of `name` whose labels include `labels`. */
  samples(name: string, labels: Record<string, string> = {}): ParsedSample[] {
    return this.family(name).metrics.filter((sample) =>
      Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value),
    );
  }

  /** The sum of the values of `name`'s series with `labels` (0 when there is no such family); for a histogram `x`, ask for `x_count`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    if (!this.families.has(name)) return 0;
    return this.samples(name, labels).reduce((total, sample) => total + Number(sample.value ?? sample.count ?? 0), 0);
  }

  /** The value of exactly one series. */
  value(name: string, labels: Record<string, string> = {}): number {
    const samples = this.samples(name, labels);
    if (samples.length !== 1) {
      throw new Error(
        `${samples.length} series of ${name} match ${JSON.stringify(labels)}: ${JSON.stringify(samples)}`,
      );
    }
    return Number(samples[0]!.value ?? samples[0]!.count);
  }
}

/**
 * The parser merges every series of a histogram into one (it keeps labels only for unlabelled histograms), and the
 * OpenTelemetry exporter writes a series' count and sum before its buckets. Each histogram `x` is therefore handed to
 * it as three untyped families, `x_count`, `x_sum` and `x_bucket` (with `le`), whose series keep their labels.
 */
function splitHistograms(text: string): string {
  const histograms = new Set([...text.matchAll(/^# TYPE (\S+) histogram$/gm)].map((match) => match[1]!));
  if (histograms.size === 0) return text;
  const kept: string[] = [];
  const split = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const declared = /^# (?:HELP|TYPE|UNIT) (\S+)/.exec(line)?.[1];
    if (declared !== undefined && histograms.has(declared)) continue;
    const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)_(count|sum|bucket)[{ ]/.exec(line);
    if (series && histograms.has(series[1]!)) {
      const family = `${series[1]}_${series[2]}`;
      split.set(family, [...(split.get(family) ?? [`# TYPE ${family} untyped`]), line]);
      continue;
    }
    kept.push(line);
  }
  return [...kept, ...[...split.values()].flat(), ''].join('\n');
}

/** GETs a `/metrics` endpoint and parses it with a Prometheus text-format parser. */
export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return new Scrape(await response.text());
}
