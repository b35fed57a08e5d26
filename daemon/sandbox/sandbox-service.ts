import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BerthConfig, RuntimeHandlerConfig } from '../../config/types.js';
import type { PodSandboxConfig__Output } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import type { ExitStatus } from '../../shim/client.js';
import { unmount } from '../../snapshotter/mount.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { destroyBundle, mountBundleRootfs, writeBundleSpec } from '../container/bundle.js';
import type { Tasks } from '../container/tasks.js';
import type { LifecycleHook } from '../events/event-bus.js';
import { failedPrecondition, invalidArgument, wrapError } from '../errors/errors.js';
import { faultPoint } from '../faults/fault-point.js';
import { withTimeLimit } from '../errors/time-limit.js';
import { RECOVERY_LIMIT_MS } from './restart.js';
import { NamespacePins, type NamespaceKind } from '../linux/namespace-pins.js';
import type { Logger } from '../logging/logger.js';
import type { NetworkPlugin, PodNetworkRef, PortProtocol } from '../network/network-plugin.js';
import type { SpecHost } from '../oci/spec/container-spec.js';
import { requireRuntimeBinary } from '../oci/runtime-binary.js';
import { cgroupsPath } from '../oci/spec/cgroups-path.js';
import { namespaceModes, podSharesPid } from '../oci/spec/cri-input.js';
import { buildSandboxSpec } from '../oci/spec/sandbox-spec.js';
import { fingerprint, type RecordStore } from '../store/record-store.js';
import type { ImageSource } from '../container/image-source.js';
import { mountSandboxShm, writeSandboxFiles } from './sandbox-files.js';
import { handlerName, runtimeFor } from './runtime-handler.js';
import { podHostname, podNamespaces, sandboxName, type SandboxRecord } from './sandbox.js';

/** What the sandbox service needs from the container service: the pod's containers, stopped or gone. */
export interface PodContainers {
  stopAll(sandboxId: string): Promise<void>;
  removeAll(sandboxId: string): Promise<void>;
}

export interface SandboxServiceDeps {
  config: BerthConfig;
  /** The berth namespace of these pods ("k8s.io" for the CRI). */
  namespace: string;
  /** Told of every state change of a sandbox, for GetContainerEvents. */
  lifecycle: LifecycleHook;
  logger: Logger;
  store: RecordStore<SandboxRecord>;
  pins: NamespacePins;
  network: NetworkPlugin;
  containers: PodContainers;
  images: ImageSource;
  snapshotter: Snapshotter;
  tasks: Tasks;
  specHost: SpecHost;
}

const nowNs = (): string => (BigInt(Date.now()) * 1_000_000n).toString();

/**
 * Pod sandboxes: create, stop and remove them, and say where their namespaces are. A sandbox is its pinned
 * namespaces, its network attachment, its shared files and shm, and (for shared-PID pods only) an infra
 * container. RunPodSandbox attaches the network in parallel with preparing everything else, since the CNI
 * plugins are the slow part.
 */
export class SandboxService {
  /** Pods under StopPodSandbox/RemovePodSandbox: their infra container's exit is the stop's doing, not news. */
  private readonly stopping = new Set<string>();

  constructor(private readonly d: SandboxServiceDeps) {}

  get(idOrPrefix: string): SandboxRecord {
    return this.d.store.get(idOrPrefix);
  }

  list(): SandboxRecord[] {
    return this.d.store.list();
  }

  async run(config: PodSandboxConfig__Output, handler: string): Promise<SandboxRecord> {
    const m = config.metadata;
    if (m === null || m.name === '' || m.namespace === '' || m.uid === '') {
      throw invalidArgument('pod sandbox config needs metadata with name, namespace and uid');
    }
    const runtime = runtimeFor(this.d.config, handler);
    // Refused before anything is made (a missing runtime binary too): containers of this pod would all fail on it.
    await requireRuntimeBinary(handlerName(this.d.config, handler), runtime);
    cgroupsPath(this.d.specHost.cgroupDriver, config.linux?.cgroup_parent ?? '', 'pod');
    const { record, existing } = await this.d.store.create(sandboxName(config), fingerprint({ config, handler }), (id) => this.create(id, config, handler, runtime));
    if (!existing) {
      // containerd reports a sandbox as a container that is created and then started.
      this.d.lifecycle('created', record.id, record.id);
      this.d.lifecycle('started', record.id, record.id);
    }
    return record;
  }

  private async create(id: string, config: PodSandboxConfig__Output, handler: string, runtime: RuntimeHandlerConfig): Promise<SandboxRecord> {
    const modes = namespaceModes(config.linux?.security_context?.namespace_options);
    const hostNetwork = modes.network === 'NODE';
    const hostIpc = modes.ipc === 'NODE';
    const dir = path.join(this.d.config.state, this.d.namespace, id);
    const hostname = podHostname(config, os.hostname());
    const record: SandboxRecord = {
      id,
      name: sandboxName(config),
      fingerprint: fingerprint({ config, handler }),
      config,
      runtimeHandler: handler,
      createdAt: nowNs(),
      state: 'SANDBOX_READY',
      dir,
      pins: {},
      hostNetwork,
      ips: [],
    };
    const log = this.d.logger.child({ sandbox: id, pod: `${config.metadata!.namespace}/${config.metadata!.name}` });
    try {
      const kinds: NamespaceKind[] = [...(hostNetwork ? [] : (['net', 'uts'] as const)), ...(hostIpc ? [] : (['ipc'] as const))];
      if (kinds.length > 0) {
        record.pins = await this.d.pins.create(id, hostNetwork ? { kinds } : { kinds, hostname });
        faultPoint('run-pod:after-pins');
      }
      const network = hostNetwork ? Promise.resolve(undefined) : this.d.network.setUp({ ...this.networkRef(record), ...networkSpec(config) });
      const local = (async () => {
        await writeSandboxFiles(dir, config, hostNetwork, hostname);
        if (!hostIpc) record.shm = await mountSandboxShm(dir);
        if (podSharesPid(config)) await this.startInfra(record, runtime);
      })();
      // Both run to the end before a failure is reported, so the clean-up below never races a half-done step.
      const [net, prep] = await Promise.allSettled([network, local]);
      if (net.status === 'rejected') throw net.reason;
      if (prep.status === 'rejected') throw prep.reason;
      faultPoint('run-pod:before-record');
      record.ips = net.value?.ips ?? [];
      log.info({ ips: record.ips, hostNetwork, infra: record.infra?.pid }, 'pod sandbox ready');
      return record;
    } catch (err) {
      await this.release(record, runtime).catch((cleanupErr: unknown) => log.error({ err: cleanupErr }, 'cleaning up a failed pod sandbox'));
      throw wrapError(err, 'Internal', `creating pod sandbox ${id}`);
    }
  }

  /**
   * Pulls the sandbox image if needed and starts the infra container that holds the pod's PID namespace.
   * `record.infra` is set before anything is made, so a failure part-way is undone by release().
   */
  private async startInfra(record: SandboxRecord, runtime: RuntimeHandlerConfig): Promise<void> {
    const ref = this.d.config.cri.sandbox_image;
    let image = await this.d.images.get(this.d.namespace, ref);
    if (image === undefined) {
      await this.d.images.pull(this.d.namespace, ref);
      image = await this.d.images.get(this.d.namespace, ref);
      if (image === undefined) throw failedPrecondition(`sandbox image ${ref} vanished right after its pull; check [cri] sandbox_image`);
    }
    const infra = { pid: 0, bundle: record.dir, snapshotKey: `${record.id}-infra` };
    record.infra = infra;
    const rootfs = await mountBundleRootfs(this.d.snapshotter, record.dir, infra.snapshotKey, image.chainID);
    const { spec } = await buildSandboxSpec({
      sandboxId: record.id,
      config: record.config,
      image: { name: ref, config: image.config.config },
      rootfs,
      podNamespaces: podNamespaces(record),
      host: this.d.specHost,
    });
    await writeBundleSpec(record.dir, spec);
    await this.d.tasks.create({ id: record.id, bundle: record.dir, runtime, logPath: '', stdin: false, tty: false });
    const client = await this.d.tasks.client(record.id, record.dir);
    infra.pid = (await client.start()).pid;
  }

  /** Stops the pod's containers and infra, detaches its network; idempotent. Namespaces stay until remove. */
  async stop(idOrPrefix: string): Promise<void> {
    const sandbox = this.d.store.find(idOrPrefix);
    if (sandbox === undefined) return;
    await this.d.store.withLock(sandbox.id, async () => {
      // Until the record says NOTREADY below, so an exit event that comes late is ignored too.
      this.stopping.add(sandbox.id);
      try {
        await this.d.containers.stopAll(sandbox.id);
        const current = this.d.store.get(sandbox.id);
        if (current.infra) await this.stopInfra(current);
        if (!current.hostNetwork) await this.d.network.tearDown(this.networkRef(current));
        if (current.shm) unmount(current.shm);
        // An infra container that died before this stop (handleInfraExit) already marked it; report the change once.
        let stopped = false;
        if (current.state !== 'SANDBOX_NOTREADY' || current.ips.length > 0) {
          await this.d.store.update(sandbox.id, (r) => {
            stopped = r.state === 'SANDBOX_READY';
            r.state = 'SANDBOX_NOTREADY';
            r.ips = [];
          });
        }
        if (stopped) this.d.lifecycle('stopped', sandbox.id, sandbox.id);
      } finally {
        this.stopping.delete(sandbox.id);
      }
    });
  }

  /** Removes the pod and its containers; removing an unknown pod is not an error. */
  async remove(idOrPrefix: string): Promise<void> {
    const sandbox = this.d.store.find(idOrPrefix);
    if (sandbox === undefined) return;
    await this.stop(sandbox.id);
    await this.d.store.withLock(sandbox.id, async () => {
      await this.d.containers.removeAll(sandbox.id);
      const current = this.d.store.get(sandbox.id);
      await this.release(current, runtimeFor(this.d.config, current.runtimeHandler));
      await this.d.store.delete(sandbox.id);
      this.d.lifecycle('deleted', sandbox.id, sandbox.id);
    });
  }

  /**
   * After a daemon restart: a ready pod whose pinned namespaces are gone (the node rebooted, <state> is a tmpfs)
   * or whose infra container died while the daemon was down is no longer ready.
   */
  async recover(): Promise<void> {
    for (const sandbox of this.d.store.list()) {
      if (sandbox.state !== 'SANDBOX_READY') continue;
      const pins = Object.values(sandbox.pins);
      const pinned = await Promise.all(pins.map((p) => NamespacePins.isPinned(p)));
      // A hung infra shim must not hold up the daemon's start; one that does not answer counts as gone.
      const infraAlive =
        sandbox.infra === undefined ||
        (await withTimeLimit(this.d.tasks.tryClient(sandbox.id, sandbox.dir), RECOVERY_LIMIT_MS, `the infra shim of pod ${sandbox.id}`).catch((err: unknown) => {
          this.d.logger.error({ err, sandbox: sandbox.id }, 'infra container not reachable at start');
          return undefined;
        })) !== undefined;
      if (pinned.every(Boolean) && infraAlive) continue;
      this.d.logger.warn({ sandbox: sandbox.id, pins: sandbox.pins, infraAlive }, 'pod sandbox lost its namespaces or infra container while berthd was down; marked not ready');
      await this.d.store.update(sandbox.id, (r) => {
        r.state = 'SANDBOX_NOTREADY';
        r.ips = [];
      });
    }
  }

  /** The infra container ended (killed, or its PID namespace died): the pod is no longer ready. */
  async handleInfraExit(id: string, exit: ExitStatus): Promise<void> {
    const sandbox = this.d.store.find(id);
    if (sandbox?.infra === undefined || sandbox.id !== id || sandbox.state === 'SANDBOX_NOTREADY' || this.stopping.has(id)) return;
    this.d.logger.warn({ sandbox: id, exit }, 'infra container of a shared-PID pod exited; pod is not ready');
    let stopped = false;
    await this.d.store.update(id, (r) => {
      stopped = r.state === 'SANDBOX_READY';
      r.state = 'SANDBOX_NOTREADY';
    });
    if (stopped) this.d.lifecycle('stopped', id, id);
  }

  private async stopInfra(sandbox: SandboxRecord): Promise<void> {
    const client = await this.d.tasks.tryClient(sandbox.id, sandbox.dir);
    if (client === undefined) return;
    const state = await client.state();
    if (state.status !== 'running') return;
    const exited = client.wait();
    // Awaited below unless the kill throws; this keeps a later rejection from going unhandled then.
    exited.catch(() => undefined);
    await client.kill('SIGKILL', true);
    await exited;
  }

  /**
   * Undoes whatever of the sandbox exists: network, infra, shm, pins, directory. Each step is idempotent. The shm
   * and the infra rootfs are unmounted before the directory holding them is deleted.
   */
  private async release(sandbox: SandboxRecord, runtime: RuntimeHandlerConfig): Promise<void> {
    if (!sandbox.hostNetwork) await this.d.network.tearDown(this.networkRef(sandbox));
    if (sandbox.infra) await this.d.tasks.delete(sandbox.id, sandbox.dir, runtime);
    if (sandbox.shm) unmount(sandbox.shm);
    if (sandbox.infra) await destroyBundle(this.d.snapshotter, sandbox.dir, sandbox.infra.snapshotKey);
    await this.d.pins.remove(sandbox.id);
    await rm(sandbox.dir, { recursive: true, force: true });
  }

  private networkRef(sandbox: SandboxRecord): PodNetworkRef {
    const m = sandbox.config.metadata!;
    return { id: sandbox.id, namespace: m.namespace, name: m.name, uid: m.uid, netnsPath: this.d.pins.paths(sandbox.id).net };
  }
}

function networkSpec(config: PodSandboxConfig__Output): { portMappings: { hostPort: number; containerPort: number; protocol: PortProtocol; hostIp?: string }[]; cgroupParent?: string; dns?: { servers: string[]; searches: string[]; options: string[] } } {
  return {
    portMappings: config.port_mappings
      .filter((p) => p.host_port > 0)
      .map((p) => ({ hostPort: p.host_port, containerPort: p.container_port, protocol: p.protocol.toLowerCase() as PortProtocol, ...(p.host_ip ? { hostIp: p.host_ip } : {}) })),
    ...(config.linux?.cgroup_parent ? { cgroupParent: config.linux.cgroup_parent } : {}),
    ...(config.dns_config ? { dns: { servers: config.dns_config.servers, searches: config.dns_config.searches, options: config.dns_config.options } } : {}),
  };
}
