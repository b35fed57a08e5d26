import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { wrapError } from '../../errors/errors.js';
import { TEMP_PREFIX, writeFileDurable } from '../../fs/atomic-file.js';
import { readIfPresent } from '../../fs/read-if-present.js';
import type { PodNetworkRef } from '../network-plugin.js';
import { isObject, parseConfList, type CniConfList } from './cni-config.js';
import { resultProblem, type CniResult } from './cni-result.js';

/**
 * What ADD did for one sandbox, kept so DEL and CHECK replay the same plugins with the same runtime config and
 * the ADD result as prevResult, even after a daemon restart or a change of the config directory (libcni keeps a
 * similar cache under /var/lib/cni). It lives under the persistent root because what it undoes persists too:
 * host-local's IP reservations survive a reboot.
 */
export interface CniAttachment {
  /** The sandbox (its id is CNI_CONTAINERID), kept whole so a restart can tear down sandboxes it lost track of. */
  pod: PodNetworkRef;
  ifName: string;
  config: CniConfList;
  runtimeConfig: Record<string, unknown>;
  result: CniResult;
}

const FORMAT = 'berth.cni-attachment.v1';

export class CniResultCache {
  constructor(private readonly dir: string) {}

  private path(containerId: string, ifName: string): string {
    return join(this.dir, `${containerId}${suffix(ifName)}`);
  }

  /** Every recorded attachment on interface `ifName`. */
  async list(ifName: string): Promise<CniAttachment[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    // A write a crash interrupted left a temp file; the record it would have replaced is still there.
    const ids = names.filter((name) => name.endsWith(suffix(ifName)) && !name.startsWith(TEMP_PREFIX)).map((name) => name.slice(0, -suffix(ifName).length));
    const found = await Promise.all(ids.map((id) => this.get(id, ifName)));
    return found.filter((attachment) => attachment !== undefined);
  }

  async get(containerId: string, ifName: string): Promise<CniAttachment | undefined> {
    const path = this.path(containerId, ifName);
    const text = await readIfPresent(path);
    if (text === undefined) return undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (!isObject(value) || value['format'] !== FORMAT || !isObject(value['runtimeConfig']) || !isPodRef(value['pod'], containerId)) {
        throw new Error(`not a ${FORMAT} record for sandbox ${containerId}`);
      }
      const problem = resultProblem(value['result']);
      if (problem !== undefined) throw new Error(problem);
      return {
        pod: value['pod'],
        ifName,
        config: parseConfList(value['config'], path),
        runtimeConfig: value['runtimeConfig'],
        result: value['result'] as CniResult,
      };
    } catch (err) {
      throw wrapError(err, 'DataLoss', `CNI result cache ${path} is unreadable; delete it to tear the sandbox down with the current config`, { path });
    }
  }

  /** Written whole or not at all (temp file, fsync, rename, fsync dir), so a crash never leaves half a record. */
  async put(attachment: CniAttachment): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileDurable(this.path(attachment.pod.id, attachment.ifName), JSON.stringify({ format: FORMAT, ...attachment, config: toConfigJson(attachment.config) }));
  }

  async delete(containerId: string, ifName: string): Promise<void> {
    await unlink(this.path(containerId, ifName)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

function suffix(ifName: string): string {
  return `-${ifName}.json`;
}

function isPodRef(value: unknown, id: string): value is PodNetworkRef {
  return (
    isObject(value) &&
    value['id'] === id &&
    ['namespace', 'name', 'uid', 'netnsPath'].every((key) => typeof value[key] === 'string')
  );
}

function toConfigJson(config: CniConfList): Record<string, unknown> {
  const { source: _source, ...json } = config;
  return json;
}
