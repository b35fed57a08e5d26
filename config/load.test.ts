import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.js';
import { defaultConfig } from './defaults.js';
import { formatConfig, loadConfigFile, parseConfig } from './load.js';

const SOURCE = '/etc/berth/test.toml';

function configError(text: string): ConfigError {
  try {
    parseConfig(text, SOURCE);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

describe('parseConfig', () => {
  it('an empty file is the built-in defaults', () => {
    expect(parseConfig('', SOURCE)).toEqual(defaultConfig());
  });

  it('a partial file changes only the keys it names', () => {
    const config = parseConfig('root = "/srv/berth"\n[cri]\ncgroup_driver = "systemd"\n', SOURCE);
    const expected = defaultConfig();
    expected.root = '/srv/berth';
    expected.cri.cgroup_driver = 'systemd';
    expect(config).toEqual(expected);
  });

  it('merges cri.runtimes per entry: a new runtime joins runc, a named field of runc keeps the others', () => {
    const config = parseConfig(
      ['[cri.runtimes.crun]', 'path = "/usr/bin/crun"', '[cri.runtimes.runc]', 'args = ["--debug"]'].join('\n'),
      SOURCE,
    );
    expect(config.cri.runtimes).toEqual({
      runc: { path: 'runc', args: ['--debug'] },
      crun: { path: '/usr/bin/crun', args: [] },
    });
  });

  it('arrays replace rather than append', () => {
    const config = parseConfig('[cri.cni]\nbin_dirs = ["/x/bin"]\n', SOURCE);
    expect(config.cri.cni).toEqual({ bin_dirs: ['/x/bin'], conf_dir: '/etc/cni/net.d' });
  });

  it('round-trips the defaults through formatConfig', () => {
    expect(parseConfig(formatConfig(defaultConfig()), SOURCE)).toEqual(defaultConfig());
  });

  it.each([
    ['rooot = "/x"', 'rooot', 'unknown key'],
    ['[cri.cni]\nconf_dirs = "/x"', 'cri.cni.conf_dirs', 'unknown key'],
    ['[cri.runtimes.runc]\npath = "runc"\nroot = "/x"', 'cri.runtimes.runc.root', 'unknown key'],
    ['[grpc]\ngid = "wheel"', 'grpc.gid', 'must be an integer, got a string'],
    ['[grpc]\ngid = 1.5', 'grpc.gid', 'must be an integer, got a float'],
    ['[grpc]\ngid = -1', 'grpc.gid', 'must be between'],
    ['root = 5', 'root', 'must be a string, got an integer'],
    ['grpc = "x"', 'grpc', 'must be a table, got a string'],
    ['[cri.cni]\nbin_dirs = "/opt/cni/bin"', 'cri.cni.bin_dirs', 'must be an array of strings'],
    ['[cri.cni]\nbin_dirs = ["/ok", 3]', 'cri.cni.bin_dirs', 'item 1 must be a string'],
    ['[cri.cni]\nbin_dirs = ["relative"]', 'cri.cni.bin_dirs', 'item 0 must be an absolute path'],
    ['root = "var/lib/berth"', 'root', 'must be an absolute path'],
    ['[grpc]\naddress = "berth.sock"', 'grpc.address', 'must be an absolute path'],
    ['[log]\nlevel = "verbose"', 'log.level', 'must be one of "trace", "debug", "info", "warn", "error", "fatal"'],
    ['[cri]\ncgroup_driver = "cgroupv2"', 'cri.cgroup_driver', 'must be one of "cgroupfs", "systemd"'],
    ['[cri]\nimage_pull_progress_timeout = "5 minutes"', 'cri.image_pull_progress_timeout', 'must be a duration'],
    ['[cri.runtimes.crun]\nargs = []', 'cri.runtimes.crun.path', 'is required'],
    ['[cri.runtimes.runc]\npath = ""', 'cri.runtimes.runc.path', 'must not be empty'],
    ['[cri]\ndefault_runtime = "kata"', 'cri.default_runtime', 'names runtime "kata", which is not in [cri.runtimes]'],
    ['root = "/x"\nstate = "/x"', 'state', 'must differ from root'],
    ['[cri]\nstream_server_port = 70000', 'cri.stream_server_port', 'must be between 0 and 65535'],
    ['[metrics]\naddress = "localhost"', 'metrics.address', 'must be "host:port" or ""'],
  ])('rejects %j naming %s', (text, key, problem) => {
    const err = configError(text);
    expect(err.key).toBe(key);
    expect(err.file).toBe(SOURCE);
    expect(err.message).toContain(`${SOURCE}: ${key}: ${problem}`);
  });

  it('reports TOML syntax errors with the file and position', () => {
    const err = configError('root = \n');
    expect(err.key).toBeUndefined();
    expect(err.message).toMatch(/^\/etc\/berth\/test\.toml: invalid TOML at line 1, column \d+/);
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names it in errors', async () => {
    const file = join(dir, 'config.toml');
    await writeFile(file, '[log]\nlevel = "debug"\n');
    expect(loadConfigFile(file).log.level).toBe('debug');
    await writeFile(file, '[log]\nlevle = "debug"\n');
    expect(() => loadConfigFile(file)).toThrow(`${file}: log.levle: unknown key`);
  });

  it('names a missing file', () => {
    const file = join(dir, 'absent.toml');
    expect(() => loadConfigFile(file)).toThrow(`${file}: cannot read the config file`);
  });
});
