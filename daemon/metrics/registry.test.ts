import { describe, expect, it } from 'vitest';
import { CallbackGauge, Counter, Histogram, MetricsRegistry } from './registry.js';

describe('MetricsRegistry', () => {
  it('renders counters, histograms and gauges in the text exposition format', () => {
    const registry = new MetricsRegistry();
    const calls = registry.register(new Counter('calls_total', 'Calls.', ['method', 'code']));
    const plain = registry.register(new Counter('runs_total', 'Runs.'));
    const latency = registry.register(new Histogram('latency_seconds', 'Latency.', [0.1, 1], ['method']));
    registry.register(new CallbackGauge('things', 'Things\nby kind.', ['kind'], () => [{ labels: ['a "quoted"\\ one'], value: 2 }]));
    calls.inc(['Version', 'OK']);
    calls.inc(['Version', 'OK']);
    calls.inc(['Version', 'NOT_FOUND'], 3);
    latency.observe(['Version'], 0.05);
    latency.observe(['Version'], 0.1);
    latency.observe(['Version'], 5);
    expect(registry.render()).toBe(
      [
        '# HELP calls_total Calls.',
        '# TYPE calls_total counter',
        'calls_total{method="Version",code="OK"} 2',
        'calls_total{method="Version",code="NOT_FOUND"} 3',
        '# HELP runs_total Runs.',
        '# TYPE runs_total counter',
        'runs_total 0',
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{method="Version",le="0.1"} 2',
        'latency_seconds_bucket{method="Version",le="1"} 2',
        'latency_seconds_bucket{method="Version",le="+Inf"} 3',
        'latency_seconds_sum{method="Version"} 5.15',
        'latency_seconds_count{method="Version"} 3',
        '# HELP things Things\\nby kind.',
        '# TYPE things gauge',
        'things{kind="a \\"quoted\\"\\\\ one"} 2',
        '',
      ].join('\n'),
    );
    plain.inc();
    expect(registry.render()).toContain('\nruns_total 1\n');
  });

  it('refuses a wrong number of label values and a name registered twice', () => {
    const registry = new MetricsRegistry();
    const counter = registry.register(new Counter('c_total', 'C.', ['a']));
    expect(() => counter.inc([])).toThrow(/takes labels \(a\)/);
    expect(() => registry.register(new Counter('c_total', 'again'))).toThrow(/registered twice/);
  });
});
