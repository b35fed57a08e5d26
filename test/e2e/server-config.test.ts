import { writeFile } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../config/defaults.js';
import { makeTestDir, runBerthd } from '../harness/berthd.js';

describe('berthd config commands', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTestDir();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the full default config, which config check accepts', async () => {
    const printed = await runBerthd(['config', 'default']);
    expect(printed.code).toBe(0);
    expect(JSON.parse(JSON.stringify(parse(printed.stdout)))).toEqual(defaultConfig());
    const file = join(dir, 'default.toml');
    await writeFile(file, printed.stdout);
    const checked = await runBerthd(['config', 'check', '--config', file]);
    expect(checked).toMatchObject({ code: 0, stdout: `${file}: valid\n` });
  });

  it('names the file and the key of an unknown key', async () => {
    const file = join(dir, 'typo.toml');
    await writeFile(file, '[cri]\ncgroup_drvier = "systemd"\n');
    const result = await runBerthd(['config', 'check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`berthd: ${file}: cri.cgroup_drvier: unknown key\n`);
  });

  it('names the file and the key of a value of the wrong type', async () => {
    const file = join(dir, 'type.toml');
    await writeFile(file, '[grpc]\ngid = "wheel"\n');
    const result = await runBerthd(['config', 'check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`berthd: ${file}: grpc.gid: must be an integer, got a string\n`);
  });

  it('refuses to start on an invalid config before touching anything', async () => {
    const file = join(dir, 'bad-start.toml');
    await writeFile(file, `root = "relative/root"\n`);
    const result = await runBerthd(['--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}: root: must be an absolute path`);
  });

  it('fails clearly when --config names a missing file', async () => {
    const file = join(dir, 'missing.toml');
    const result = await runBerthd(['config', 'check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}: cannot read the config file`);
  });
});
