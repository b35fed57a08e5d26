import { describe, expect, it } from 'vitest';
import { defaultConfig } from './defaults.js';
import { changedKeys, planReload } from './reload-plan.js';

describe('planReload', () => {
  it('applies reloadable keys and names the rest as needing a restart', () => {
    const running = defaultConfig();
    const loaded = defaultConfig();
    loaded.log.level = 'debug';
    loaded.cri.registry.config_path = '/etc/other/certs.d';
    loaded.cri.cgroup_driver = 'systemd';
    loaded.root = '/srv/berth';
    const plan = planReload(running, loaded);
    expect(plan.applied).toEqual(['cri.registry.config_path', 'log.level']);
    expect(plan.needsRestart).toEqual(['cri.cgroup_driver', 'root']);
    expect(plan.effective.log.level).toBe('debug');
    expect(plan.effective.cri.registry.config_path).toBe('/etc/other/certs.d');
    expect(plan.effective.cri.cgroup_driver).toBe('cgroupfs');
    expect(plan.effective.root).toBe('/var/lib/berth');
    // The running object is left alone: holders hand it out to in-flight operations.
    expect(running.log.level).toBe('info');
  });

  it('reports nothing for an unchanged file', () => {
    expect(planReload(defaultConfig(), defaultConfig())).toMatchObject({ applied: [], needsRestart: [] });
  });

  it('names a runtime handler entry added or changed', () => {
    const loaded = defaultConfig();
    loaded.cri.runtimes['crun'] = { path: 'crun', args: [] };
    loaded.cri.runtimes['runc'] = { path: '/usr/sbin/runc', args: [] };
    expect(changedKeys(defaultConfig(), loaded)).toEqual(['cri.runtimes.crun', 'cri.runtimes.runc.path']);
  });
});
