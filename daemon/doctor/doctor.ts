import { existsSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { BerthConfig } from '../../config/types.js';
import { bundlePaths } from '../../shim/protocol.js';
import { isSnapshotError } from '../../snapshotter/errors.js';
import type { SnapshotInfo, Snapshotter } from '../../snapshotter/snapshotter.js';
import { dirEntries } from '../fs/dir-entries.js';
import { EXTRACT_PREFIX } from '../images/gc.js';
import type { ImageService } from '../images/image-service.js';
import { MNT_DETACH, isSyscallError, umount2 } from '../linux/libc.js';
import { mountPoints } from '../linux/mountinfo.js';
import type { Logger } from '../logging/logger.js';
import type { PodNamespaces } from '../namespaces/pod-namespaces.js';
import { runtimeFor } from '../sandbox/runtime-handler.js';
import type { PodServices } from '../sandbox/open.js';
import { runtimeContainers, shimProcesses } from './host-scan.js';

/**
 * berthctl doctor: compares what the kernel, the runtime and the disk hold with berth's records, lists what is
 * leaked or inconsistent, and with `fix` repairs it. Objects whose create is under way, and objects a damaged
 * record names (reported once, as the damaged record), are never touched.
 */

export type FindingKind =
  | 'mount'
  | 'snapshot'
  | 'netns-pin'
  | 'shim'
  | 'runc-container'
  | 'bundle-without-metadata'
  | 'metadata-without-bundle'
  | 'damaged-metadata';

export interface Finding {
  kind: FindingKind;
  /** The berth namespace, or "" for what namespaces share (mounts, layer snapshots). */
  namespace: string;
  /** The object's id, the mount point, or the snapshot key. */
  subject: string;
  /** What is wrong, and what --fix does about it. */
  detail: string;
  /** Set when a fix was asked for: whether it succeeded. */
  fixed?: boolean;
  /** Why the fix failed. */
  fixError?: string;
}

/**
 * Every namespace with records on disk, opened (and so recovered) if it was not yet. A metadata directory that is
 * no valid namespace name holds nothing berth made and is skipped.
 */
export async function allNamespaces(namespaces: PodNamespaces, logger: Logger): Promise<Map<string, PodServices>> {
  for (const name of await namespaces.onDisk()) {
    await Promise.resolve()
      .then(() => namespaces.get(name))
      .catch((err: unknown) => logger.warn({ err, namespace: name }, 'doctor skips a metadata directory'));
  }
  return namespaces.all();
}

export interface DoctorDeps {
  config: BerthConfig;
  /** Every namespace with records (images, sandboxes or containers) on disk, opened and recovered if it was not yet. */
  namespaces(): Promise<Map<string, PodServices>>;
  images: ImageService;
  snapshotter: Snapshotter;
  logger: Logger;
}

interface Pending extends Finding {
  /** Repairs sharing a key (one sweep of an id found by several checks) run once. */
  repairKey: string;
  repair: () => Promise<void>;
}

/**
 * Runs every check; with `fix`, repairs each finding in turn (one failing repair does not stop the others).
 * `only` limits the findings (and so the repairs) to some kinds.
 */
export async function runDoctor(d: DoctorDeps, fix: boolean, only?: ReadonlySet<FindingKind>): Promise<Finding[]> {
  const namespaces = await d.namespaces();
  let found: Pending[] = [];
  for (const [namespace, pods] of namespaces) found.push(...(await checkNamespace(d.config, namespace, pods)));
  found.push(...(await checkShims(d.config, namespaces)));
  found.push(...(await checkMounts(d.config, namespaces)));
  found.push(...(await checkSnapshots(d, namespaces)));
  if (only !== undefined) found = found.filter((f) => only.has(f.kind));
  if (!fix) return found.map(({ repair: _repair, repairKey: _key, ...finding }) => finding);

  const repairs = new Map<string, Promise<void>>();
  const out: Finding[] = [];
  for (const { repair, repairKey, ...finding } of found) {
    let run = repairs.get(repairKey);
    if (run === undefined) {
      run = repair();
      repairs.set(repairKey, run);
    }
    try {
      await run;
      out.push({ ...finding, fixed: true });
    } catch (err) {
      d.logger.warn({ err, finding }, 'doctor could not repair');
      out.push({ ...finding, fixed: false, fixError: err instanceof Error ? err.message : String(err) });
    }
  }
  if (out.length > 0) d.logger.info({ findings: out.length, fixed: out.filter((f) => f.fixed).length }, 'doctor repairs done');
  return out;
}

/** Ids the namespace's records name, plus those to leave alone (create under way, damaged record). */
function idsOf(pods: PodServices): { sandboxes: Set<string>; containers: Set<string>; handsOff: Set<string>; known: Set<string> } {
  const sandboxes = new Set(pods.sandboxes.list().map((s) => s.id));
  const containers = new Set(pods.containers.list().map((c) => c.id));
  const handsOff = new Set([...pods.upkeep.damaged, ...pods.upkeep.inFlight()]);
  return { sandboxes, containers, handsOff, known: new Set([...sandboxes, ...containers, ...handsOff]) };
}

async function checkNamespace(config: BerthConfig, namespace: string, pods: PodServices): Promise<Pending[]> {
  const { upkeep } = pods;
  const ids = idsOf(pods);
  const out: Pending[] = [];
  const sweep = (id: string): Pick<Pending, 'repair' | 'repairKey'> => ({ repairKey: `bundle:${namespace}:${id}`, repair: () => upkeep.sweepBundle(id) });

  for (const id of await dirEntries(upkeep.bundlesDir)) {
    if (ids.known.has(id)) continue;
    out.push({ kind: 'bundle-without-metadata', namespace, subject: id, detail: `bundle ${path.join(upkeep.bundlesDir, id)} has no record; fix: delete its runtime container, mounts, snapshot and directory`, ...sweep(id) });
  }
  for (const c of pods.containers.list()) {
    if (existsSync(c.bundle)) continue;
    out.push({ kind: 'metadata-without-bundle', namespace, subject: c.id, detail: `container ${c.id} (${c.name}) has a record but no bundle ${c.bundle}; fix: remove the container`, repairKey: `container:${namespace}:${c.id}`, repair: () => pods.containers.remove(c.id) });
  }
  for (const s of pods.sandboxes.list()) {
    if (existsSync(s.dir)) continue;
    out.push({ kind: 'metadata-without-bundle', namespace, subject: s.id, detail: `pod sandbox ${s.id} (${s.name}) has a record but no directory ${s.dir}; fix: remove the pod sandbox`, repairKey: `sandbox:${namespace}:${s.id}`, repair: () => pods.sandboxes.remove(s.id) });
  }
  for (const id of [...upkeep.damaged]) {
    const file = upkeep.metadataDirs.map((dir) => path.join(dir, `${id}.json`)).find((f) => existsSync(f));
    if (file === undefined) continue;
    out.push({
      kind: 'damaged-metadata',
      namespace,
      subject: id,
      detail: `record ${file} does not parse; fix: remove what it names (runtime container, mounts, snapshot, pins, bundle) and the file`,
      repairKey: `damaged:${namespace}:${id}`,
      repair: async () => {
        await upkeep.sweepBundle(id);
        await upkeep.sweepPins(id);
        await unlink(file);
        upkeep.damaged.splice(upkeep.damaged.indexOf(id), 1);
      },
    });
  }
  const pinned = new Set((await Promise.all(upkeep.pinDirs.map(dirEntries))).flat());
  for (const id of pinned) {
    if (ids.sandboxes.has(id) || ids.handsOff.has(id)) continue;
    out.push({ kind: 'netns-pin', namespace, subject: id, detail: `namespace pins of ${id} belong to no pod sandbox; fix: CNI DEL, unmount and remove them`, repairKey: `pins:${namespace}:${id}`, repair: () => upkeep.sweepPins(id) });
  }
  for (const id of await runtimeContainers(runtimeFor(config, ''), upkeep.runcRoot)) {
    if (ids.known.has(id)) continue;
    out.push({ kind: 'runc-container', namespace, subject: id, detail: `the runtime knows container ${id} (${upkeep.runcRoot}) but berth has no record of it; fix: runtime delete --force`, ...sweep(id) });
  }
  return out;
}

interface ShimOwner {
  namespace: string;
  id: string;
  bundle: string;
}

/**
 * Which bundle each shim serves: the shim.pid it wrote there at create (also right for a shim that started as a
 * spare, whose command line names its spare socket), else the bundle its --socket lies in.
 */
async function shimOwners(namespaces: Map<string, PodServices>): Promise<Map<number, ShimOwner>> {
  const owners = new Map<number, ShimOwner>();
  for (const [namespace, pods] of namespaces) {
    for (const id of await dirEntries(pods.upkeep.bundlesDir)) {
      const bundle = path.join(pods.upkeep.bundlesDir, id);
      const pid = Number((await readFile(bundlePaths(bundle).shimPid, 'utf8').catch(() => '')).trim());
      if (pid > 0) owners.set(pid, { namespace, id, bundle });
    }
  }
  return owners;
}

/** Shims serving a bundle no record names, or whose socket is gone (nobody can reach them). Idle spares are not. */
async function checkShims(config: BerthConfig, namespaces: Map<string, PodServices>): Promise<Pending[]> {
  const known = new Map([...namespaces].map(([ns, pods]) => [ns, idsOf(pods).known]));
  const byPid = await shimOwners(namespaces);
  const out: Pending[] = [];
  for (const shim of await shimProcesses()) {
    let owner = byPid.get(shim.pid);
    if (owner === undefined) {
      const rel = path.relative(config.state, shim.socket).split(path.sep);
      if (rel.length !== 3 || rel[2] !== 'shim.sock') continue;
      owner = { namespace: rel[0]!, id: rel[1]!, bundle: path.dirname(shim.socket) };
    }
    const { namespace, id, bundle } = owner;
    const socket = bundlePaths(bundle).socket;
    const owned = known.get(namespace)?.has(id) === true;
    if (owned && existsSync(socket)) continue;
    const why = owned ? `its socket ${socket} is gone, so berthd cannot reach it` : `its bundle ${bundle} has no record`;
    out.push({
      kind: 'shim',
      namespace,
      subject: String(shim.pid),
      detail: `berth-shim pid ${shim.pid} serves ${id}, but ${why}; fix: kill it (SIGKILL)`,
      repairKey: `shim:${shim.pid}`,
      repair: async () => {
        try {
          process.kill(shim.pid, 'SIGKILL');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      },
    });
  }
  return out;
}

/** Mount points under root/ and state/ that no record accounts for. */
async function checkMounts(config: BerthConfig, namespaces: Map<string, PodServices>): Promise<Pending[]> {
  const owned = new Set<string>();
  const ownedTrees: string[] = [];
  for (const pods of namespaces.values()) {
    for (const dir of pods.upkeep.pinDirs) owned.add(dir);
    for (const c of pods.containers.list()) owned.add(path.join(c.bundle, 'rootfs'));
    for (const s of pods.sandboxes.list()) {
      if (s.shm) owned.add(s.shm);
      if (s.infra) owned.add(path.join(s.dir, 'rootfs'));
      for (const pin of Object.values(s.pins)) owned.add(pin);
    }
    for (const id of idsOf(pods).handsOff) {
      ownedTrees.push(path.join(pods.upkeep.bundlesDir, id));
      for (const dir of pods.upkeep.pinDirs) ownedTrees.push(path.join(dir, id));
    }
  }
  const out: Pending[] = [];
  // Deepest first, so a repair never detaches a mount that still has leaked mounts below it.
  for (const point of (await mountPoints([config.root, config.state])).reverse()) {
    if (owned.has(point) || ownedTrees.some((tree) => point === tree || point.startsWith(`${tree}/`))) continue;
    out.push({
      kind: 'mount',
      namespace: '',
      subject: point,
      detail: `mount at ${point} belongs to no container, sandbox or namespace pin; fix: unmount it (lazily)`,
      repairKey: `mount:${point}`,
      repair: async () => {
        try {
          umount2(point, MNT_DETACH);
        } catch (err) {
          if (!isSyscallError(err, 'EINVAL') && !isSyscallError(err, 'ENOENT')) throw err;
        }
      },
    });
  }
  return out;
}

/**
 * Writable snapshots no container or sandbox owns, and layer snapshots no image (of any namespace) and no
 * container needs. The second kind is the image GC's to remove; the fix runs it, so pull leases are respected.
 */
async function checkSnapshots(d: DoctorDeps, namespaces: Map<string, PodServices>): Promise<Pending[]> {
  const all = await d.snapshotter.list();
  const byKey = new Map(all.map((s) => [s.key, s]));
  const owners = new Set<string>();
  const needed = new Set<string>();
  const need = (key: string | undefined): void => {
    for (let k = key; k !== undefined && !needed.has(k); k = byKey.get(k)?.parent) needed.add(k);
  };
  for (const [namespace, pods] of namespaces) {
    for (const c of pods.containers.list()) owners.add(c.snapshotKey);
    for (const s of pods.sandboxes.list()) if (s.infra) owners.add(s.infra.snapshotKey);
    for (const id of idsOf(pods).handsOff) owners.add(id).add(`${id}-infra`);
    for (const view of d.images.list(namespace)) for (const r of view.records) need(r.chainID);
  }
  for (const key of owners) need(key);

  let gc: Promise<void> | undefined;
  const out: Pending[] = [];
  for (const s of all) {
    if (needed.has(s.key) || s.key.startsWith(EXTRACT_PREFIX)) continue;
    if (s.kind === 'committed') {
      out.push({
        kind: 'snapshot',
        namespace: '',
        subject: s.key,
        detail: `layer snapshot ${s.key} is used by no image and no container; fix: run the image garbage collection`,
        repairKey: 'image-gc',
        repair: () => (gc ??= d.images.collectGarbage().then(() => undefined)),
      });
    } else {
      out.push({ kind: 'snapshot', namespace: '', subject: s.key, detail: `${s.kind} snapshot ${s.key} belongs to no container or sandbox; fix: remove it`, repairKey: `snapshot:${s.key}`, repair: () => removeSnapshot(d.snapshotter, s) });
    }
  }
  return out;
}

async function removeSnapshot(snapshotter: Snapshotter, s: SnapshotInfo): Promise<void> {
  try {
    await snapshotter.remove(s.key);
  } catch (err) {
    if (!isSnapshotError(err, 'NotFound')) throw err;
  }
}
