import { chmod, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BerthConfig } from '../../config/types.js';
import type { ContainerConfig__Output } from '../../proto/gen/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../../proto/gen/runtime/v1/LinuxContainerResources.js';
import type { ExitStatus, ShimClient, StatsResult } from '../../shim/client.js';
import type { Snapshotter, Usage } from '../../snapshotter/snapshotter.js';
import type { LifecycleHook } from '../events/event-bus.js';
import { asBerthError } from '../images/snapshot-errors.js';
import { BerthError, failedPrecondition, invalidArgument, notFound, wrapError } from '../errors/errors.js';
import { withTimeLimit } from '../errors/time-limit.js';
import { faultPoint } from '../faults/fault-point.js';
import { RECOVERY_LIMIT_MS } from '../sandbox/restart.js';
import type { Logger } from '../logging/logger.js';
import { requireRuntimeBinary } from '../oci/runtime-binary.js';
import { buildContainerSpec, type SpecHost } from '../oci/spec/container-spec.js';
import { namespaceModes } from '../oci/spec/cri-input.js';
import { linuxResources } from '../oci/spec/resources.js';
import type { RuntimeSpec } from '../oci/spec/runtime-spec.js';
import { handlerName, runtimeFor } from '../sandbox/runtime-handler.js';
import { podNamespaces, type SandboxRecord } from '../sandbox/sandbox.js';
import { fingerprint, type RecordStore } from '../store/record-store.js';
import { destroyBundle, mountBundleRootfs, writeBundleSpec } from './bundle.js';
import { containerName, type ContainerRecord } from './container.js';
import type { ImageSource } from './image-source.js';
import { shimFailure } from './shim-errors.js';
import type { Tasks } from './tasks.js';

export interface ContainerServiceDeps {
  config: BerthConfig;
  /** The berth namespace of these containers, their images and bundles ("k8s.io" for the CRI). */
  namespace: string;
  /** Told of every state change, for GetContainerEvents and berthctl. */
  lifecycle: LifecycleHook;
  logger: Logger;
  store: RecordStore<ContainerRecord>;
  sandboxes: RecordStore<SandboxRecord>;
  images: ImageSource;
  snapshotter: Snapshotter;
  tasks: Tasks;
  specHost: SpecHost;
}

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface ContainerStatsSample {
  timestampNs: string;
  /** Absent when the container is not running. */
  task?: StatsResult;
  /** CPU use since the previous sample of this container, in nanocores; absent on the first sample. */
  nanoCores?: number;
  writableLayer: Usage;
}

/** kubelet reads at most 4 KiB of a termination message; so does berth. */
const MAX_TERMINATION_MESSAGE = 4096;
/** Room left in an ExecSync reply for its framing and exit code. */
const EXEC_REPLY_OVERHEAD = 1024;
/** The exit code reported for a container whose shim died without recording one (containerd reports 255 too). */
const SHIM_DIED_EXIT_CODE = 255;
/** How long a SIGKILLed container may take to be reaped before StopContainer gives up. */
const KILL_GRACE_MS = 30_000;
const nowNs = (): string => (BigInt(Date.now()) * 1_000_000n).toString();

/**
 * Containers of pods: create (image → snapshot → bundle → spec → shim, which runs `runc create`), start (only
 * `runc start`, so it is quick), stop (the stop signal, then SIGKILL after the timeout), remove, exec, stats,
 * resource updates. A container's state follows its shim's exit events; when a shim is gone the exit.json it left
 * in the bundle says how the container ended.
 */
export class ContainerService {
  private readonly specs = new Map<string, RuntimeSpec>();
  /** The last CPU reading per container, so stats can report a rate (kubelet's usage_nano_cores) as containerd does. */
  private readonly cpuSamples = new Map<string, { at: bigint; cpu: bigint }>();

  constructor(private readonly d: ContainerServiceDeps) {}

  get(idOrPrefix: string): ContainerRecord {
    return this.d.store.get(idOrPrefix);
  }

  list(): ContainerRecord[] {
    return this.d.store.list();
  }

  /** Whether any container's rootfs sits on the committed chain `chainID` (the image GC must keep it). */
  isChainInUse(chainID: string): boolean {
    return this.d.store.list().some((c) => c.image.chainID === chainID);
  }

  async create(sandboxId: string, config: ContainerConfig__Output): Promise<ContainerRecord> {
    if (config.metadata === null || config.metadata.name === '') throw invalidArgument('container config needs metadata with a name');
    if (config.image === null || config.image.image === '') throw invalidArgument(`container "${config.metadata.name}" names no image; set config.image.image`);
    const { id: podId } = this.d.sandboxes.get(sandboxId);
    // Under the pod's lock, so a StopPodSandbox or RemovePodSandbox waits for the create instead of missing it.
    return this.d.sandboxes.withLock(podId, async () => {
      const sandbox = this.d.sandboxes.get(podId);
      if (sandbox.state !== 'SANDBOX_READY') {
        throw failedPrecondition(`pod sandbox ${sandbox.id} is not ready (stopped); containers can only be created in a ready sandbox, run a new one`);
      }
      const name = containerName(config, sandbox.config.metadata!);
      const { record, existing } = await this.d.store.create(name, fingerprint({ sandboxId: sandbox.id, config }), (id) => this.build(id, name, sandbox, config));
      if (!existing) this.d.lifecycle('created', record.id, record.sandboxId);
      return record;
    });
  }

  private async build(id: string, name: string, sandbox: SandboxRecord, config: ContainerConfig__Output): Promise<ContainerRecord> {
    const imageName = config.image!.image;
    const image = await this.d.images.get(this.d.namespace, imageName);
    if (image === undefined) throw notFound(`image ${imageName} not found in namespace ${this.d.namespace}; pull it first (crictl pull ${imageName})`);
    const runtime = runtimeFor(this.d.config, sandbox.runtimeHandler);
    await requireRuntimeBinary(handlerName(this.d.config, sandbox.runtimeHandler), runtime);
    const bundle = path.join(this.d.config.state, this.d.namespace, id);
    const log = this.d.logger.child({ container: id, sandbox: sandbox.id, name: config.metadata!.name });
    try {
      const rootfs = await mountBundleRootfs(this.d.snapshotter, bundle, id, image.chainID);
      faultPoint('create-container:after-snapshot');
      const terminationLog = path.join(bundle, 'termination-log');
      await writeFile(terminationLog, '');
      // Written by the container's user, whoever that is.
      await chmod(terminationLog, 0o666);
      const logPath = sandbox.config.log_directory && config.log_path ? path.join(sandbox.config.log_directory, config.log_path) : '';
      if (logPath !== '') await mkdir(path.dirname(logPath), { recursive: true, mode: 0o755 });
      const built = await buildContainerSpec({
        id,
        sandboxId: sandbox.id,
        config,
        sandboxConfig: sandbox.config,
        image: { name: imageName, config: image.config.config },
        rootfs,
        sandboxFiles: {
          hostname: path.join(sandbox.dir, 'hostname'),
          hosts: path.join(sandbox.dir, 'hosts'),
          resolvConf: path.join(sandbox.dir, 'resolv.conf'),
          ...(sandbox.shm ? { shm: sandbox.shm } : {}),
        },
        podNamespaces: podNamespaces(sandbox),
        ...this.targetPidNs(config),
        terminationLog,
        host: this.d.specHost,
      });
      for (const note of built.notes) log.info(note);
      await writeBundleSpec(bundle, built.spec);
      faultPoint('create-container:after-spec');
      this.specs.set(id, built.spec);
      const pid = await this.d.tasks.create({ id, bundle, runtime, logPath, stdin: config.stdin, tty: config.tty });
      faultPoint('create-container:after-shim');
      return {
        id,
        name,
        fingerprint: fingerprint({ sandboxId: sandbox.id, config }),
        sandboxId: sandbox.id,
        config,
        image: { name: imageName, id: image.id, ref: image.view.repoDigests[0] ?? image.id, ...(image.chainID ? { chainID: image.chainID } : {}) },
        createdAt: nowNs(),
        startedAt: '0',
        finishedAt: '0',
        state: 'CONTAINER_CREATED',
        exitCode: 0,
        reason: '',
        message: '',
        pid,
        bundle,
        snapshotKey: id,
        logPath,
        ...(built.terminationMessageHostPath ? { terminationMessagePath: built.terminationMessageHostPath } : {}),
        user: built.user,
        stopSignal: stopSignal(config, image.config.config?.StopSignal),
        resources: config.linux?.resources ?? null,
      };
    } catch (err) {
      this.specs.delete(id);
      await this.d.tasks.delete(id, bundle, runtime).catch((e: unknown) => log.warn({ err: e }, 'deleting the task of a failed create'));
      await destroyBundle(this.d.snapshotter, bundle, id).catch((e: unknown) => log.warn({ err: e }, 'removing the bundle of a failed create'));
      throw wrapError(err, 'Internal', `creating container ${config.metadata!.name} in pod ${sandbox.id}`);
    }
  }

  private targetPidNs(config: ContainerConfig__Output): { targetPidNs?: string } {
    const opts = config.linux?.security_context?.namespace_options;
    if (namespaceModes(opts).pid !== 'TARGET') return {};
    const target = this.d.store.find(opts!.target_id);
    if (target === undefined || target.state !== 'CONTAINER_RUNNING') {
      throw failedPrecondition(`target container ${opts!.target_id} of the PID namespace is not running; start it first`);
    }
    return { targetPidNs: `/proc/${target.pid}/ns/pid` };
  }

  async start(idOrPrefix: string): Promise<void> {
    const { id } = this.get(idOrPrefix);
    await this.d.store.withLock(id, async () => {
      const c = this.get(id);
      if (c.state !== 'CONTAINER_CREATED') {
        throw failedPrecondition(`container ${id} is ${stateWord(c.state)}, only a created container can be started; create a new one`);
      }
      const sandbox = this.d.sandboxes.find(c.sandboxId);
      if (sandbox?.state !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${c.sandboxId} of container ${id} is not ready; run a new pod sandbox`);
      try {
        const client = await this.d.tasks.client(id, c.bundle);
        const started = await client.start();
        await this.d.store.update(id, (r) => {
          r.startedAt = started.startedAtNs;
          r.pid = started.pid;
          // The exit event of a process that died at once can arrive before this update; it wins.
          if (r.state === 'CONTAINER_CREATED') r.state = 'CONTAINER_RUNNING';
        });
        this.d.lifecycle('started', id, c.sandboxId);
      } catch (err) {
        const failure = shimFailure(err, `starting container ${id}`);
        await this.d.store.update(id, (r) => {
          r.state = 'CONTAINER_EXITED';
          r.exitCode = 128;
          r.reason = 'StartError';
          r.message = failure.message;
          r.finishedAt = nowNs();
        });
        this.d.lifecycle('stopped', id, c.sandboxId);
        throw failure;
      }
    });
  }

  /** Stops a running container: its stop signal, then SIGKILL once `timeoutSec` has passed (0: at once). Idempotent. */
  async stop(idOrPrefix: string, timeoutSec: number): Promise<void> {
    const { id } = this.get(idOrPrefix);
    await this.d.store.withLock(id, () => this.stopLocked(id, timeoutSec));
  }

  private async stopLocked(id: string, timeoutSec: number): Promise<void> {
    const c = this.get(id);
    if (c.state !== 'CONTAINER_RUNNING') return;
    const client = await this.d.tasks.tryClient(id, c.bundle);
    if (client === undefined) {
      await this.settleWithoutShim(c);
      return;
    }
    const exited = client.wait();
    // Awaited below on every path but an early throw; this keeps a later rejection from going unhandled then.
    exited.catch(() => undefined);
    const exitWithin = (ms: number): Promise<ExitStatus | undefined> => Promise.race([exited, sleep(ms).then(() => undefined)]);
    try {
      if (timeoutSec > 0) {
        await this.signal(client, c.stopSignal, false);
        const exit = await exitWithin(timeoutSec * 1000);
        if (exit !== undefined) return await this.applyExit(id, exit);
        this.d.logger.info({ container: id, signal: c.stopSignal, timeoutSec }, 'container ignored its stop signal; killing it');
      }
      await this.signal(client, 'SIGKILL', true);
      const exit = await exitWithin(KILL_GRACE_MS);
      if (exit === undefined) {
        throw new BerthError(
          'DeadlineExceeded',
          `container ${id} did not exit within ${KILL_GRACE_MS / 1000}s of SIGKILL; a process is stuck in the kernel (uninterruptible sleep), retry the stop later`,
        );
      }
      await this.applyExit(id, exit);
    } catch (err) {
      throw shimFailure(err, `stopping container ${id}`);
    }
  }

  /** Signals the container; a container that exited in the meantime needs no signal, so that is no error. */
  private async signal(client: ShimClient, signal: string, all: boolean): Promise<void> {
    try {
      await client.kill(signal, all);
    } catch (err) {
      const state = await client.state().catch(() => undefined);
      if (state?.exit != null) return;
      throw err;
    }
  }

  /** Removes a container (stopping it first); removing an unknown container is not an error. */
  async remove(idOrPrefix: string): Promise<void> {
    const found = this.d.store.find(idOrPrefix);
    if (found === undefined) return;
    const id = found.id;
    await this.d.store.withLock(id, async () => {
      const c = this.d.store.find(id);
      if (c === undefined) return;
      await this.stopLocked(id, 0);
      faultPoint('remove-container:after-stop');
      const runtime = runtimeFor(this.d.config, this.d.sandboxes.find(c.sandboxId)?.runtimeHandler ?? '');
      await this.d.tasks.delete(id, c.bundle, runtime);
      faultPoint('remove-container:after-task-delete');
      await destroyBundle(this.d.snapshotter, c.bundle, c.snapshotKey);
      faultPoint('remove-container:after-bundle');
      this.specs.delete(id);
      this.cpuSamples.delete(id);
      await this.d.store.delete(id);
      this.d.lifecycle('deleted', id, c.sandboxId);
    });
  }

  async stopAll(sandboxId: string): Promise<void> {
    await Promise.all(this.d.store.list().filter((c) => c.sandboxId === sandboxId).map((c) => this.stop(c.id, 0)));
  }

  async removeAll(sandboxId: string): Promise<void> {
    await Promise.all(this.d.store.list().filter((c) => c.sandboxId === sandboxId).map((c) => this.remove(c.id)));
  }

  /** The OCI spec the container runs with (config.json of its bundle). */
  async spec(c: ContainerRecord): Promise<RuntimeSpec> {
    let spec = this.specs.get(c.id);
    if (spec === undefined) {
      spec = JSON.parse(await readFile(path.join(c.bundle, 'config.json'), 'utf8')) as RuntimeSpec;
      this.specs.set(c.id, spec);
    }
    return spec;
  }

  async execSync(idOrPrefix: string, cmd: string[], timeoutSec: number): Promise<ExecSyncResult> {
    const c = this.get(idOrPrefix);
    if (cmd.length === 0) throw invalidArgument(`exec in container ${c.id} needs a command`);
    if (c.state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${c.id} is ${stateWord(c.state)}; exec needs a running container`);
    const spec = await this.spec(c);
    const client = await this.d.tasks.client(c.id, c.bundle);
    let out;
    try {
      out = await client.exec({ process: { ...spec.process, args: cmd, terminal: false }, timeoutMs: timeoutSec * 1000 });
    } catch (err) {
      throw shimFailure(err, `exec ${JSON.stringify(cmd[0])} in container ${c.id}`);
    }
    if (out.timedOut) {
      throw new BerthError('DeadlineExceeded', `command ${JSON.stringify(cmd.join(' '))} in container ${c.id} timed out after ${timeoutSec}s and was killed`);
    }
    // The shim keeps 16 MiB of output, but the reply must also fit the gRPC message limit (kubelet's is 16 MiB too).
    const budget = Math.max(0, this.d.config.grpc.max_send_message_size - EXEC_REPLY_OVERHEAD);
    const stderr = out.stderr.subarray(0, budget);
    const stdout = out.stdout.subarray(0, budget - stderr.length);
    return { stdout, stderr, exitCode: out.exitCode };
  }

  async updateResources(idOrPrefix: string, resources: LinuxContainerResources__Output | null): Promise<void> {
    const { id } = this.get(idOrPrefix);
    await this.d.store.withLock(id, async () => {
      const c = this.get(id);
      if (c.state === 'CONTAINER_EXITED') throw failedPrecondition(`container ${id} has exited; its resources can no longer change`);
      const plan = linuxResources(resources, this.d.specHost);
      const { devices: _devices, ...cgroupResources } = plan.resources;
      const client = await this.d.tasks.client(id, c.bundle);
      try {
        await client.update(cgroupResources);
      } catch (err) {
        throw shimFailure(err, `updating the resources of container ${id}`);
      }
      const spec = await this.spec(c);
      spec.linux.resources = { ...spec.linux.resources, ...cgroupResources };
      await writeBundleSpec(c.bundle, spec);
      await this.d.store.update(id, (r) => {
        r.resources = resources;
      });
    });
  }

  async stats(c: ContainerRecord): Promise<ContainerStatsSample> {
    let writableLayer: Usage;
    try {
      writableLayer = await this.d.snapshotter.usage(c.snapshotKey);
    } catch (err) {
      throw asBerthError(err, `measuring the writable layer of container ${c.id}`);
    }
    if (c.state !== 'CONTAINER_RUNNING') return { timestampNs: nowNs(), writableLayer };
    const client = await this.d.tasks.tryClient(c.id, c.bundle);
    if (client === undefined) return { timestampNs: nowNs(), writableLayer };
    try {
      const task = await client.stats();
      const sample = { at: BigInt(task.timestampNs), cpu: BigInt(task.cpuUsageNs) };
      const previous = this.cpuSamples.get(c.id);
      this.cpuSamples.set(c.id, sample);
      if (previous === undefined || sample.at <= previous.at || sample.cpu < previous.cpu) return { timestampNs: task.timestampNs, task, writableLayer };
      const nanoCores = Number(((sample.cpu - previous.cpu) * 1_000_000_000n) / (sample.at - previous.at));
      return { timestampNs: task.timestampNs, task, writableLayer, nanoCores };
    } catch (err) {
      throw shimFailure(err, `reading the stats of container ${c.id}`);
    }
  }

  async reopenLog(idOrPrefix: string): Promise<void> {
    const c = this.get(idOrPrefix);
    if (c.state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${c.id} is ${stateWord(c.state)}; only a running container's log can be reopened`);
    const client = await this.d.tasks.client(c.id, c.bundle);
    try {
      await client.reopenLog();
    } catch (err) {
      throw shimFailure(err, `reopening the log of container ${c.id}`);
    }
  }

  /** An exit event from a shim; exits of unknown ids (infra containers) are someone else's. */
  handleExit(id: string, exit: ExitStatus): void {
    if (this.d.store.find(id)?.id !== id) return;
    this.applyExit(id, exit).catch((err: unknown) => this.d.logger.error({ err, container: id }, 'recording a container exit'));
  }

  /** A shim connection closed; if its container still counts as running, find out how it ended. */
  handleShimGone(id: string): void {
    const c = this.d.store.find(id);
    if (c?.id !== id || c.state !== 'CONTAINER_RUNNING') return;
    this.settleWithoutShim(c).catch((err: unknown) => this.d.logger.error({ err, container: id }, 'settling a container whose shim is gone'));
  }

  /**
   * After a daemon restart: reconnect to the shims of running and created containers and catch up on exits
   * that happened while the daemon was down (the shim kept them in exit.json). With `onlyUnknown` (the periodic
   * collection), only the containers an earlier attempt could not reach get another chance.
   */
  async recover(onlyUnknown = false): Promise<void> {
    await Promise.all(
      this.d.store
        .list()
        .filter((c) => (onlyUnknown ? c.state === 'CONTAINER_UNKNOWN' : c.state !== 'CONTAINER_EXITED'))
        .map(async (c) => {
          try {
            await withTimeLimit(this.recoverOne(c), RECOVERY_LIMIT_MS, `the shim of container ${c.id}`);
          } catch (err) {
            // One hung or broken shim must not keep the daemon from serving the others; it is reported instead.
            this.d.logger.error({ err, container: c.id }, 'container not recovered at start; reported as unknown');
            const detail = err instanceof Error ? err.message : String(err);
            await this.d.store.update(c.id, (r) => {
              r.state = 'CONTAINER_UNKNOWN';
              r.reason = 'Unknown';
              r.message = `berthd could not recover the container at start (${detail}); check berth-shim in ${c.bundle}, then remove the container`;
            });
          }
        }),
    );
  }

  private async recoverOne(c: ContainerRecord): Promise<void> {
    const client = await this.d.tasks.tryClient(c.id, c.bundle);
    if (client === undefined) return this.settleWithoutShim(c);
    const state = await client.state();
    if (state.exit !== null) return this.applyExit(c.id, state.exit);
    if (c.state === 'CONTAINER_UNKNOWN') {
      await this.d.store.update(c.id, (r) => {
        r.state = state.status === 'created' ? 'CONTAINER_CREATED' : 'CONTAINER_RUNNING';
        r.reason = '';
        r.message = '';
      });
    }
    return undefined;
  }

  private async settleWithoutShim(c: ContainerRecord): Promise<void> {
    const exit = this.d.tasks.recordedExit(c.bundle);
    if (exit !== null) {
      await this.applyExit(c.id, exit);
      return;
    }
    // The shim died with its container still there (or never recorded the exit). Nothing is left to collect the
    // container's output or exit status, so it is stopped and deleted with the runtime, as containerd does
    // after a dead shim: no orphan keeps running unseen.
    this.d.logger.warn({ container: c.id }, 'shim of a container is gone and left no exit status; stopping the container with the runtime');
    await this.d.tasks.delete(c.id, c.bundle, runtimeFor(this.d.config, this.d.sandboxes.find(c.sandboxId)?.runtimeHandler ?? ''));
    await this.d.store.update(c.id, (r) => {
      r.state = 'CONTAINER_EXITED';
      r.exitCode = SHIM_DIED_EXIT_CODE;
      r.finishedAt = nowNs();
      r.reason = 'Error';
      r.message = 'berth-shim of the container died without recording an exit status (killed?); berthd stopped the container with the runtime';
    });
    this.d.lifecycle('stopped', c.id, c.sandboxId);
  }

  private async applyExit(id: string, exit: ExitStatus): Promise<void> {
    const c = this.d.store.find(id);
    if (c?.id !== id || c.state === 'CONTAINER_EXITED') return;
    const message = await readTerminationMessage(c.terminationMessagePath);
    // A stop and the shim's exit event can both get here; only the first one is a state change to report.
    let stopped = false;
    await this.d.store.update(id, (r) => {
      stopped = r.state !== 'CONTAINER_EXITED';
      r.state = 'CONTAINER_EXITED';
      r.exitCode = exit.exitCode;
      r.finishedAt = exit.exitedAtNs;
      r.reason = exit.reason;
      r.message = message;
    });
    if (!stopped) return;
    this.d.lifecycle('stopped', id, c.sandboxId);
    // The status is in the record now: the shim has nothing left to keep, so it deletes the runtime's container
    // and exits instead of idling until RemoveContainer (containerd deletes its task at exit too). exit.json and
    // the logs stay.
    await this.d.tasks.delete(id, c.bundle, runtimeFor(this.d.config, this.d.sandboxes.find(c.sandboxId)?.runtimeHandler ?? '')).catch((err: unknown) => {
      this.d.logger.warn({ err, container: id }, 'releasing the shim of an exited container; RemoveContainer retries');
    });
  }
}

async function readTerminationMessage(file: string | undefined): Promise<string> {
  if (file === undefined) return '';
  try {
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(MAX_TERMINATION_MESSAGE);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** CRI stop_signal wins; else the image's StopSignal; else SIGTERM. */
function stopSignal(config: ContainerConfig__Output, imageStopSignal: string | undefined): string {
  if (config.stop_signal && config.stop_signal !== 'RUNTIME_DEFAULT') return config.stop_signal;
  if (imageStopSignal) return /^\d+$/.test(imageStopSignal) || imageStopSignal.startsWith('SIG') ? imageStopSignal : `SIG${imageStopSignal}`;
  return 'SIGTERM';
}

function stateWord(state: ContainerRecord['state']): string {
  return state.replace('CONTAINER_', '').toLowerCase();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

