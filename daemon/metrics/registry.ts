/**
 * A minimal Prometheus registry: counters, histograms and gauges read at scrape time, rendered in the text
 * exposition format (version 0.0.4). Label values are joined into one map key, so recording is a map lookup
 * and an addition; all formatting happens at scrape.
 */

type LabelValues = readonly string[];

interface Metric {
  readonly name: string;
  render(): string[];
}

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(names: readonly string[], values: LabelValues, extra?: [string, string]): string {
  const pairs = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? '')}"`);
  if (extra !== undefined) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function formatNumber(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return Number.isNaN(value) ? 'NaN' : String(value);
}

const KEY_SEPARATOR = '\u0000';

function header(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];
}

function checkArity(name: string, labelNames: readonly string[], values: LabelValues): void {
  if (values.length !== labelNames.length) {
    throw new Error(`metric ${name} takes labels (${labelNames.join(', ')}), got ${values.length} values`);
  }
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: LabelValues; value: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[] = [],
  ) {}

  inc(labels: LabelValues = [], amount = 1): void {
    const key = labels.join(KEY_SEPARATOR);
    const entry = this.values.get(key);
    if (entry !== undefined) {
      entry.value += amount;
      return;
    }
    checkArity(this.name, this.labelNames, labels);
    this.values.set(key, { labels: [...labels], value: amount });
  }

  render(): string[] {
    const lines = header(this.name, this.help, 'counter');
    // A counter without labels exists from the start, so a scrape shows 0 rather than nothing.
    if (this.labelNames.length === 0 && this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(this.labelNames, labels)} ${formatNumber(value)}`);
    return lines;
  }
}

interface HistogramSeries {
  labels: LabelValues;
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Metric {
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
    private readonly labelNames: readonly string[] = [],
  ) {}

  observe(labels: LabelValues, value: number): void {
    const key = labels.join(KEY_SEPARATOR);
    let series = this.series.get(key);
    if (series === undefined) {
      checkArity(this.name, this.labelNames, labels);
      series = { labels: [...labels], counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    let slot = 0;
    while (slot < this.buckets.length && value > (this.buckets[slot] as number)) slot++;
    series.counts[slot] = (series.counts[slot] ?? 0) + 1;
    series.sum += value;
    series.count++;
  }

  render(): string[] {
    const lines = header(this.name, this.help, 'histogram');
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      [...this.buckets, Infinity].forEach((bound, i) => {
        cumulative += counts[i] ?? 0;
        lines.push(`${this.name}_bucket${labelText(this.labelNames, labels, ['le', formatNumber(bound)])} ${cumulative}`);
      });
      lines.push(`${this.name}_sum${labelText(this.labelNames, labels)} ${formatNumber(sum)}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, labels)} ${count}`);
    }
    return lines;
  }
}

/** One sample of a gauge read at scrape time. */
export interface GaugeSample {
  labels: LabelValues;
  value: number;
}

export class CallbackGauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly collect: () => Iterable<GaugeSample>,
  ) {}

  render(): string[] {
    const lines = header(this.name, this.help, 'gauge');
    for (const { labels, value } of this.collect()) {
      checkArity(this.name, this.labelNames, labels);
      lines.push(`${this.name}${labelText(this.labelNames, labels)} ${formatNumber(value)}`);
    }
    return lines;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  register<M extends Metric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is registered twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }

  /** The text exposition format, one metric family after another in registration order. */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.metrics.values()) lines.push(...metric.render());
    return `${lines.join('\n')}\n`;
  }
}
