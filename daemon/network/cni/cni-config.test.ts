import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniConfigError, loadCniConfig, parseConfList } from './cni-config.js';

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'berth-cniconf-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function confDir(files: Record<string, string | object>): Promise<string> {
  const dir = await mkdtemp(join(base, 'd-'));
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('/')) await mkdir(join(dir, name));
    else await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

async function loadError(dir: string): Promise<string> {
  const err = await loadCniConfig(dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CniConfigError);
  return (err as Error).message;
}

const list = { cniVersion: '1.0.0', name: 'net', plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] };

describe('loadCniConfig', () => {
  it('takes the first of *.conflist, *.conf, *.json in lexical order, ignoring other files and directories', async () => {
    const dir = await confDir({
      '00-readme.txt': 'not a config',
      '05-dir.conf/': '',
      '10-b.conflist': { ...list, name: 'b' },
      '20-a.conf': { cniVersion: '1.0.0', name: 'a', type: 'bridge' },
    });
    const loaded = await loadCniConfig(dir);
    expect(loaded).toEqual({ ...list, name: 'b', disableCheck: false, source: join(dir, '10-b.conflist') });
  });

  it('wraps a single-plugin .conf or .json as a one-plugin list', async () => {
    const conf = { cniVersion: '0.4.0', name: 'single', type: 'bridge', bridge: 'cni0' };
    const dir = await confDir({ '10-x.json': conf });
    expect(await loadCniConfig(dir)).toEqual({ cniVersion: '0.4.0', name: 'single', disableCheck: false, plugins: [conf], source: join(dir, '10-x.json') });
  });

  it('reports a missing or empty directory by name', async () => {
    expect(await loadError(join(base, 'absent'))).toContain(`no network config found in ${join(base, 'absent')}`);
    const empty = await confDir({});
    expect(await loadError(empty)).toContain(`no network config found in ${empty}`);
  });

  it('reports a broken first file instead of falling through to the next', async () => {
    const dir = await confDir({ '10-bad.conflist': '{"plugins": [', '20-good.conflist': list });
    expect(await loadError(dir)).toMatch(new RegExp(`^CNI config ${join(dir, '10-bad.conflist')} is not valid JSON: `));
  });

  it('says what is wrong with a config that parses', async () => {
    const cases: [string, object, string][] = [
      ['a.conflist', { ...list, plugins: [] }, '"plugins" must be a non-empty array'],
      ['a.conflist', { ...list, plugins: [{ bridge: 'x' }] }, 'plugins[0] must be an object with a non-empty "type"'],
      ['a.conflist', { ...list, name: '' }, '"name" must be a non-empty string'],
      ['a.conflist', { ...list, cniVersion: '0.2.0' }, '"cniVersion" "0.2.0" is not supported; use one of 0.3.0, 0.3.1, 0.4.0, 1.0.0'],
      ['a.conflist', { ...list, disableCheck: 'yes' }, '"disableCheck" must be a boolean'],
      ['a.conf', list, '"type" (the plugin) is missing; a config list belongs in a .conflist file'],
      ['a.conf', [], 'the top level must be a JSON object'],
    ];
    for (const [name, content, problem] of cases) {
      const dir = await confDir({ [name]: content });
      expect(await loadError(dir)).toBe(`CNI config ${join(dir, name)} is invalid: ${problem}`);
    }
  });
});

describe('parseConfList', () => {
  it('keeps plugin fields it does not know', () => {
    const parsed = parseConfList({ ...list, disableCheck: true, plugins: [{ type: 'x', custom: { a: 1 } }] }, 'cache');
    expect(parsed.plugins).toEqual([{ type: 'x', custom: { a: 1 } }]);
    expect(parsed.disableCheck).toBe(true);
  });
});
