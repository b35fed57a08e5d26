import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../../config/defaults.js';
import { formatConfig } from '../../config/load.js';
import { readIfPresent } from '../fs/read-if-present.js';

/**
 * `berthd install` / `berthd uninstall`: the files a node needs around berthd. Install writes the unit always
 * (it is berth's), the config and crictl.yaml only where none exists. Uninstall removes exactly what install
 * would have written and nobody changed since: the unit carrying install's first line, a config still equal
 * to the defaults, a crictl.yaml still equal to berth's. A file an operator edited is kept and reported.
 */

export const UNIT_PATH = 'etc/systemd/system/berth.service';
export const CONFIG_PATH = 'etc/berth/config.toml';
export const CRICTL_PATH = 'etc/crictl.yaml';
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

export interface InstallTarget {
  /** Where "/" is; "/" on the node itself, a directory when preparing an image. */
  root: string;
  /** Absolute node binary and dist/daemon/main.js for ExecStart. */
  node: string;
  main: string;
  /** The CRI socket crictl should use (the default config's [grpc] address). */
  socket: string;
}

export type FileOutcome = 'written' | 'kept (exists)' | 'kept (differs from berth default)' | 'removed' | 'absent' | 'kept (modified)';

export interface FileReport {
  path: string;
  outcome: FileOutcome;
}

/** The package directory (holding package.json and systemd/), from wherever this module was loaded. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'systemd', 'berth.service'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find systemd/berth.service above the berthd module; is the package complete?');
    dir = parent;
  }
  return dir;
}

/** systemd splits ExecStart on whitespace; quote a path that has any. */
const unitWord = (word: string): string => (/[\s"\\]/.test(word) ? `"${word.replace(/(["\\])/g, '\\$1')}"` : word);

const unitTemplate = (): string => readFileSync(join(packageRoot(), 'systemd', 'berth.service'), 'utf8');

function renderUnit(target: Pick<InstallTarget, 'node' | 'main'>): string {
  return unitTemplate().replace(/^ExecStart=.*$/m, `ExecStart=${unitWord(target.node)} ${unitWord(target.main)}`);
}

export function renderCrictlConfig(socket: string): string {
  return [
    '# Written by `berthd install`: crictl talks to berth with no flags.',
    `runtime-endpoint: unix://${socket}`,
    `image-endpoint: unix://${socket}`,
    'timeout: 10',
    '',
  ].join('\n');
}

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
  await writeFile(path, text, { mode: FILE_MODE });
  // writeFile's mode applies only to a new file, through the umask.
  await chmod(path, FILE_MODE);
}

export async function install(target: InstallTarget): Promise<FileReport[]> {
  const unit = join(target.root, UNIT_PATH);
  const config = join(target.root, CONFIG_PATH);
  const crictl = join(target.root, CRICTL_PATH);
  const reports: FileReport[] = [];
  await put(unit, renderUnit(target));
  reports.push({ path: unit, outcome: 'written' });

  if ((await readIfPresent(config)) === undefined) {
    await put(config, formatConfig(defaultConfig()));
    reports.push({ path: config, outcome: 'written' });
  } else {
    reports.push({ path: config, outcome: 'kept (exists)' });
  }

  const wanted = renderCrictlConfig(target.socket);
  const existing = await readIfPresent(crictl);
  if (existing === undefined || existing === wanted) {
    await put(crictl, wanted);
    reports.push({ path: crictl, outcome: 'written' });
  } else {
    // Another runtime's crictl.yaml belongs to its operator; they choose which endpoint crictl defaults to.
    reports.push({ path: crictl, outcome: 'kept (differs from berth default)' });
  }
  return reports;
}

async function removeIf(path: string, ours: (text: string) => boolean): Promise<FileReport> {
  const text = await readIfPresent(path);
  if (text === undefined) return { path, outcome: 'absent' };
  if (!ours(text)) return { path, outcome: 'kept (modified)' };
  await rm(path);
  return { path, outcome: 'removed' };
}

export async function uninstall(target: Pick<InstallTarget, 'root' | 'socket'>): Promise<FileReport[]> {
  const defaults = formatConfig(defaultConfig());
  const crictl = renderCrictlConfig(target.socket);
  // Install's first line marks the unit as berth's whatever ExecStart it was given.
  const marker = unitTemplate().split('\n', 1)[0] as string;
  return [
    await removeIf(join(target.root, UNIT_PATH), (text) => text.startsWith(`${marker}\n`)),
    await removeIf(join(target.root, CONFIG_PATH), (text) => text === defaults),
    await removeIf(join(target.root, CRICTL_PATH), (text) => text === crictl),
  ];
}
