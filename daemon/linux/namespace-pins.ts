import { mkdir, open, readdir, rmdir, statfs, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BerthError, alreadyExists, invalidArgument, isBerthError, wrapError } from '../errors/errors.js';
import {
  AF_INET, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWUTS, ERRNO_NAMES, IFF_UP, LIBC_PATH, LIBC_PROTOTYPES, MNT_DETACH, MS_BIND,
  MS_REC, MS_SHARED, SIOCGIFFLAGS, SIOCSIFFLAGS, SOCK_CLOEXEC, SOCK_DGRAM, SyscallError, isSyscallError, mount, umount2,
} from './libc.js';
import {
  namespaceWorkerMain, type NamespaceKind, type NamespaceWorkerData, type PinReply, type PinRequest, type WorkerFailure,
} from './namespace-worker.js';
import { RequestWorker } from './request-worker.js';

export type { NamespaceKind } from './namespace-worker.js';

type NamespaceWorker = RequestWorker<Omit<PinRequest, 'seq'>, PinReply>;

/** Pin paths of one pod's namespaces, for the kinds that were created. */
export type PinnedNamespaces = Partial<Record<NamespaceKind, string>>;

export interface CreateNamespacesOptions {
  kinds: NamespaceKind[];
  /** The pod's hostname, set inside its new UTS namespace (requires 'uts' in kinds). */
  hostname?: string;
}

/**
 * A step of making one pod's namespaces failed (unshare, hostname, lo, pin mount); the message names the pod, the
 * step and the system call, and `cause` is the SyscallError.
 */
export class NamespaceSetupError extends BerthError {
  readonly step: string;

  constructor(id: string, failure: WorkerFailure) {
    const cause = new SyscallError(failure.syscall, failure.errno, failure.detail);
    super('Internal', `pod ${id}: ${failure.step}: ${cause.message}`, {
      cause,
      context: { id, step: failure.step, syscall: failure.syscall, errno: failure.errno },
    });
    this.step = failure.step;
  }
}

/** The namespace worker's thread name (/proc/<pid>/task/<tid>/comm, at most 15 bytes). */
export const NAMESPACE_THREAD_NAME = 'berth-nspin';

/** statfs(2) f_type of nsfs: a path with it is a live namespace pin. */
const NSFS_MAGIC = 0x6e736673;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Creates and removes pods' network, IPC and UTS namespaces, each kept alive by a bind mount of its nsfs file on
 * an empty file (a "pin") so no process has to hold it open:
 *
 *   <state>/netns/<id>       network namespace (lo already up), the path `ip netns` tools and CNI_NETNS use
 *   <state>/ns/<id>/ipc      IPC namespace
 *   <state>/ns/<id>/uts      UTS namespace (hostname already set)
 *
 * The namespaces are made on a worker thread (see namespace-worker.ts); the daemon's own threads never change
 * namespace. Removal is umount2(MNT_DETACH) + unlink and is idempotent.
 */
export class NamespacePins {
  readonly netnsDir: string;
  readonly nsDir: string;
  private dirsReady: Promise<void> | undefined;
  private worker: NamespaceWorker | undefined;

  constructor(stateDir: string) {
    this.netnsDir = join(stateDir, 'netns');
    this.nsDir = join(stateDir, 'ns');
  }

  paths(id: string): Record<NamespaceKind, string> {
    checkId(id);
    return { net: join(this.netnsDir, id), ipc: join(this.nsDir, id, 'ipc'), uts: join(this.nsDir, id, 'uts') };
  }

  async create(id: string, options: CreateNamespacesOptions): Promise<PinnedNamespaces> {
    const all = this.paths(id);
    if (options.hostname !== undefined && !options.kinds.includes('uts')) {
      throw invalidArgument(`pod ${id}: a hostname needs its own UTS namespace; add 'uts' to the namespaces to create`);
    }
    this.dirsReady ??= Promise.all([makeSharedMountPoint(this.netnsDir), makeSharedMountPoint(this.nsDir)]).then(() => undefined);
    await this.dirsReady.catch((err: unknown) => {
      this.dirsReady = undefined;
      throw err;
    });
    const pins: PinnedNamespaces = {};
    try {
      if (options.kinds.some((kind) => kind !== 'net')) await mkdir(join(this.nsDir, id), { mode: 0o755, recursive: true });
      for (const kind of options.kinds) {
        await createPinFile(all[kind], id);
        pins[kind] = all[kind];
      }
      if (this.worker === undefined) {
        const worker = startNamespaceWorker(() => {
          if (this.worker === worker) this.worker = undefined;
        });
        this.worker = worker;
      }
      const request: Omit<PinRequest, 'seq'> = options.hostname === undefined ? { pins } : { pins, hostname: options.hostname };
      const reply = await this.worker.request(request);
      if (!reply.ok) throw new NamespaceSetupError(id, reply.failure);
      return pins;
    } catch (err) {
      // Pins already mounted for another sandbox with this id are not ours to remove.
      if (!isBerthError(err, 'AlreadyExists')) await this.remove(id);
      throw wrapError(err, 'Internal', `pod ${id}: creating namespaces ${options.kinds.join(', ')}`);
    }
  }

  /** Unmounts and deletes every pin of `id`. Succeeds when there is nothing left to remove. */
  async remove(id: string): Promise<void> {
    const all = this.paths(id);
    for (const path of Object.values(all)) {
      unmountAll(path);
      await unlink(path).catch(ignoreCode('ENOENT'));
    }
    await rmdir(join(this.nsDir, id)).catch(ignoreCode('ENOENT'));
  }

  /**
   * Ids that have anything under the pin directories (live pins or leftovers of a crash), for restart recovery
   * to remove what no sandbox owns.
   */
  async list(): Promise<string[]> {
    const names = await Promise.all(
      [this.netnsDir, this.nsDir].map((dir) =>
        readdir(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return [];
          throw err;
        }),
      ),
    );
    return [...new Set(names.flat())].sort();
  }

  /** True when `path` is a mounted namespace pin (an nsfs file), false when it is missing or a plain file. */
  static async isPinned(path: string): Promise<boolean> {
    try {
      return (await statfs(path)).type === NSFS_MAGIC;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Stops the worker thread (its OS thread ends with it). Call with no create() under way; a later create() starts a new one. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.close();
  }
}

function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) throw invalidArgument(`namespace pin id ${JSON.stringify(id)} is not a valid file name; use letters, digits, '_', '.', '-'`);
}

function ignoreCode(code: string): (err: unknown) => void {
  return (err) => {
    if ((err as NodeJS.ErrnoException).code !== code) throw err;
  };
}

async function createPinFile(path: string, id: string): Promise<void> {
  try {
    await (await open(path, 'wx', 0o444)).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // A plain file is what a crash between create and mount leaves behind; reuse it. A live pin is not ours.
    if (await NamespacePins.isPinned(path)) throw alreadyExists(`namespace pin ${path} already exists for pod ${id}; remove the old sandbox first`);
  }
}

/**
 * Unmounts a pin until nothing is mounted there (a crash could have stacked two). MNT_DETACH because a process
 * may still have the namespace open; the namespace lives on for it and dies with its last user.
 */
function unmountAll(path: string): void {
  for (;;) {
    try {
      umount2(path, MNT_DETACH);
    } catch (err) {
      if (isSyscallError(err, 'EINVAL') || isSyscallError(err, 'ENOENT')) return;
      throw err;
    }
  }
}

/**
 * Makes `dir` a mount point with shared propagation, as `ip netns` does for /run/netns: if it is not a mount
 * point (EINVAL), bind-mount it on itself first. Why shared and not private: a mount namespace cloned while a
 * pin exists (another runtime's container, a systemd unit with PrivateTmp) holds a copy of the pin, and that copy
 * keeps the network namespace alive. With shared propagation the copy is a peer or slave of ours, so our
 * unmount propagates and frees the namespace; with private propagation the copy would leak until that other
 * mount namespace dies. runc makes its container's mounts rslave and pivots away from the host tree, so pins
 * created later never appear inside containers. Idempotent: on a daemon restart the first mount() succeeds.
 */
async function makeSharedMountPoint(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    mount(null, dir, null, MS_SHARED | MS_REC);
    return;
  } catch (err) {
    if (!isSyscallError(err, 'EINVAL')) throw err;
  }
  mount(dir, dir, null, MS_BIND | MS_REC);
  mount(null, dir, null, MS_SHARED | MS_REC);
}

/** The thread that makes namespaces (see namespace-worker.ts); `onExit` runs when it is gone. */
function startNamespaceWorker(onExit: () => void): NamespaceWorker {
  const data: NamespaceWorkerData = {
    koffiPath: createRequire(import.meta.url).resolve('koffi'),
    libcPath: LIBC_PATH,
    prototypes: LIBC_PROTOTYPES,
    flags: { net: CLONE_NEWNET, ipc: CLONE_NEWIPC, uts: CLONE_NEWUTS, bind: MS_BIND },
    loopback: { inet: AF_INET, dgram: SOCK_DGRAM, cloexec: SOCK_CLOEXEC, getFlags: SIOCGIFFLAGS, setFlags: SIOCSIFFLAGS, up: IFF_UP },
    errnoNames: { ...ERRNO_NAMES },
    threadName: NAMESPACE_THREAD_NAME,
  };
  return new RequestWorker(namespaceWorkerMain, data, 'namespace worker', onExit);
}
