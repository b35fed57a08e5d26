import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { wrapError } from '../../errors/errors.js';
import { isObject, parseConfList, type CniConfList } from './cni-config.js';
import { resultProblem, type CniResult } from './cni-result.js';

/**
 * What ADD did for one sandbox, kept so DEL and CHECK replay the same plugins with the same runtime config and
 * the ADD result as prevResult, even after a daemon restart or a change of the config directory (libcni keeps a
 * similar cache under /var/lib/cni). It lives under the persistent root because what it undoes persists too:
 * host-local's IP reservations survive a reboot.
 */
export interface CniAttachment {
  containerId: string;
  ifName: string;
  config: CniConfList;
  runtimeConfig: Record<string, unknown>;
  result: CniResult;
}

const FORMAT = 'berth.cni-attachment.v1';

export class CniResultCache {
  constructor(private readonly dir: string) {}

  private path(containerId: string, ifName: string): string {
    return join(this.dir, `${containerId}-${ifName}.json`);
  }

  async get(containerId: string, ifName: string): Promise<CniAttachment | undefined> {
    const path = this.path(containerId, ifName);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const value: unknown = JSON.parse(text);
      if (!isObject(value) || value['format'] !== FORMAT || !isObject(value['runtimeConfig'])) throw new Error(`not a ${FORMAT} record`);
      const problem = resultProblem(value['result']);
      if (problem !== undefined) throw new Error(problem);
      return {
        containerId,
        ifName,
        config: parseConfList(value['config'], path),
        runtimeConfig: value['runtimeConfig'],
        result: value['result'] as CniResult,
      };
    } catch (err) {
      throw wrapError(err, 'DataLoss', `CNI result cache ${path} is unreadable; delete it to tear the sandbox down with the current config`, { path });
    }
  }

  /** Written whole or not at all (temp file, fsync, rename), so a crash never leaves half a record. */
  async put(attachment: CniAttachment): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = this.path(attachment.containerId, attachment.ifName);
    const tmp = `${path}.tmp`;
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify({ format: FORMAT, ...attachment, config: toConfigJson(attachment.config) }));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  }

  async delete(containerId: string, ifName: string): Promise<void> {
    await unlink(this.path(containerId, ifName)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

function toConfigJson(config: CniConfList): Record<string, unknown> {
  const { source: _source, ...json } = config;
  return json;
}
