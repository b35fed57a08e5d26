import { afterEach, describe, expect, it } from 'vitest';
import { notFound } from '../errors/errors.js';
import { imageGcChannel, imagePullChannel, type ImageGcEvent, type ImagePullEvent } from './channels.js';
import { DaemonMetrics } from './daemon-metrics.js';

describe('DaemonMetrics', () => {
  let metrics: DaemonMetrics;
  afterEach(() => metrics.close());

  it('counts pulls and GC runs published on the diagnostics channels', () => {
    metrics = new DaemonMetrics();
    imagePullChannel.publish({ bytes: 1000, durationMs: 1500 } satisfies ImagePullEvent);
    imagePullChannel.publish({ bytes: 10, durationMs: 200, error: notFound('image x not found') } satisfies ImagePullEvent);
    imageGcChannel.publish({ blobsRemoved: 1, snapshotsRemoved: 0 } satisfies ImageGcEvent);
    const text = metrics.render();
    expect(text).toContain('\nberth_image_pulls_total 1\n');
    expect(text).toContain('\nberth_image_pull_bytes_total 1010\n');
    expect(text).toContain('berth_image_pull_failures_total{reason="NotFound"} 1');
    expect(text).toContain('berth_image_pull_duration_seconds_count 2');
    expect(text).toContain('\nberth_image_gc_runs_total 1\n');
  });

  it('reads containers by state and the shim count at scrape time', () => {
    metrics = new DaemonMetrics();
    const containers = [{ state: 'CONTAINER_RUNNING' }, { state: 'CONTAINER_RUNNING' }, { state: 'CONTAINER_EXITED' }];
    metrics.setContainerSource(() => containers);
    metrics.setShimCount(() => 2);
    const text = metrics.render();
    expect(text).toContain('berth_containers{state="running"} 2');
    expect(text).toContain('berth_containers{state="exited"} 1');
    expect(text).toContain('berth_containers{state="created"} 0');
    expect(text).toContain('\nberth_shims 2\n');
  });

  it('stops listening once closed', () => {
    metrics = new DaemonMetrics();
    metrics.close();
    imageGcChannel.publish({ blobsRemoved: 0, snapshotsRemoved: 0 } satisfies ImageGcEvent);
    expect(metrics.render()).toContain('\nberth_image_gc_runs_total 0\n');
  });
});
