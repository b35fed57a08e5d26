import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../config/defaults.js';
import { runtimeFor } from './runtime-handler.js';

describe('runtimeFor', () => {
  it('maps "" to the default runtime and refuses unknown handlers naming the configured ones', () => {
    const config = defaultConfig();
    expect(runtimeFor(config, '')).toEqual({ path: 'runc', args: [] });
    expect(() => runtimeFor(config, 'kata')).toThrow(/"kata" is not configured; use "" or one of "runc"/);
  });

  it('adds --systemd-cgroup once with the systemd cgroup driver', () => {
    const config = defaultConfig();
    config.cri.cgroup_driver = 'systemd';
    expect(runtimeFor(config, 'runc').args).toEqual(['--systemd-cgroup']);
    config.cri.runtimes['runc'] = { path: 'runc', args: ['--systemd-cgroup'] };
    expect(runtimeFor(config, '').args).toEqual(['--systemd-cgroup']);
  });
});
