import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBerth } from '../../proto/berth-client.js';
import type { DoctorFinding__Output } from '../../proto/gen/berth/v1/DoctorFinding.js';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { removeParentCgroup, writeBusyboxBundle } from '../fixtures/busybox-bundle.js';
import { busyboxImage, pushImage, type PushedImage } from '../fixtures/images.js';
import { alive, leftovers } from '../fixtures/leftovers.js';
import { cleanupPods, containerConfig, podConfig, runContainer, usePodTestBed, waitFor, writeE2eCniConfig } from '../fixtures/pods.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startStallingProxy, type StallingProxy } from '../fixtures/stalling-proxy.js';
import { BERTHD_MAIN, startBerthd, type BerthdHandle } from '../harness/berthd.js';

const BERTHCTL = join(BERTHD_MAIN, '..', 'cli', 'berthctl.js');
const SHIM = join(BERTHD_MAIN, '..', '..', 'shim', 'main.js');

/**
 * Crash safety: berthd killed (SIGKILL, through BERTH_FAULTS) between the steps of RunPodSandbox, CreateContainer,
 * RemoveContainer, PullImage and RemoveImage, then started again: no half object is shown as healthy, what was
 * left is swept or can be finished by a retry, and the doctor finds nothing. Then the doctor itself, on leaks
 * made by hand while the daemon runs.
 */
describe('crash points', () => {
  let extra: PushedImage;
  let pod: PodSandboxConfig;
  let podId: string;
  // The harness reads it at every start: a test arms a fault for one start only.
  const env: Record<string, string> = {};
  const bed = usePodTestBed({ busybox: { config: { Env: ['PATH=/bin'] } }, berthd: { env } });

  const doctor = (): Promise<DoctorFinding__Output[]> => doctorFindings(bed.daemon);

  /** Starts a daemon armed with `point`, runs `action` until the daemon dies there, and starts it again unarmed. */
  const crashAt = async (point: string, action: () => Promise<unknown>): Promise<void> => {
    env['BERTH_FAULTS'] = point;
    await bed.daemon.restart();
    const pid = bed.daemon.pid;
    const err = (await rejectionOf(action())) as ServiceError;
    expect(err.code, `${point}: ${err.message}`).toBe(GrpcStatus.UNAVAILABLE);
    await waitFor(`berthd to die at ${point}`, async () => ((await alive(pid)) ? undefined : true), 10_000);
    delete env['BERTH_FAULTS'];
    await bed.daemon.restart();
    expect(bed.daemon.logs()).toContain(`"faultPoint":"${point}"`);
  };

  beforeAll(async () => {
    extra = await pushImage({ url: bed.registry.url }, 'e2e/extra', '1', await busyboxImage({ layers: [{ entries: [{ path: 'etc/extra', content: 'x' }] }] }));
    pod = podConfig('crash-base');
    podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
  });

  for (const point of ['run-pod:after-pins', 'run-pod:before-record']) {
    it(`RunPodSandbox killed at ${point}: no pod, nothing left, the retry succeeds`, async () => {
      const config = podConfig(`crash-${point.split(':')[1]}`);
      await crashAt(point, () => bed.daemon.runtime.RunPodSandbox({ config }));
      expect((await bed.daemon.runtime.ListPodSandbox({})).items.map((p) => p.id)).toEqual([podId]);
      expect(await doctor()).toEqual([]);
      const left = await leftovers(bed.daemon, bed.daemon.pid);
      expect(new Set(left.pins)).toEqual(new Set([podId]));
      expect(left.bundles).toEqual([podId]);
      // The address the killed pod got is released again: host-local keeps one file per address in use.
      const ipam = join(bed.daemon.dir, 'cni', 'ipam', 'berthe2e');
      expect(readdirSync(ipam).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))).toHaveLength(1);
      const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config });
      expect((await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status?.state).toBe('SANDBOX_READY');
      await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: id });
      await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
    });
  }

  for (const point of ['create-container:after-snapshot', 'create-container:after-spec', 'create-container:after-shim']) {
    it(`CreateContainer killed at ${point}: no container, nothing left, the retry succeeds`, async () => {
      const config = containerConfig(`c-${point.split(':')[1]}`, bed.busybox.reference, ['sleep', '1000']);
      await crashAt(point, () => bed.daemon.runtime.CreateContainer({ pod_sandbox_id: podId, config, sandbox_config: pod }));
      expect((await bed.daemon.runtime.ListContainers({})).containers).toEqual([]);
      expect((await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: podId })).status?.state).toBe('SANDBOX_READY');
      expect(await doctor()).toEqual([]);
      const left = await leftovers(bed.daemon, bed.daemon.pid);
      expect({ bundles: left.bundles, runc: left.runc, processes: left.processes }).toEqual({ bundles: [podId], runc: [], processes: [] });
      const id = await runContainer(bed.daemon.runtime, podId, pod, config);
      expect((await bed.daemon.runtime.ContainerStatus({ container_id: id })).status?.state).toBe('CONTAINER_RUNNING');
      await bed.daemon.runtime.RemoveContainer({ container_id: id });
    });
  }

  for (const point of ['remove-container:after-stop', 'remove-container:after-task-delete', 'remove-container:after-bundle']) {
    it(`RemoveContainer killed at ${point}: reported exited, the retry removes it`, async () => {
      const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig(`r-${point.split(':')[1]}`, bed.busybox.reference, ['sleep', '1000']));
      const pid = JSON.parse((await bed.daemon.runtime.ContainerStatus({ container_id: id, verbose: true })).info['info']!).pid as number;
      await crashAt(point, () => bed.daemon.runtime.RemoveContainer({ container_id: id }));
      expect(await alive(pid)).toBe(false);
      expect((await bed.daemon.runtime.ContainerStatus({ container_id: id })).status?.state).toBe('CONTAINER_EXITED');
      await bed.daemon.runtime.RemoveContainer({ container_id: id });
      expect((await bed.daemon.runtime.ListContainers({})).containers).toEqual([]);
      expect(await doctor()).toEqual([]);
      const left = await leftovers(bed.daemon, bed.daemon.pid);
      expect({ bundles: left.bundles, runc: left.runc, processes: left.processes }).toEqual({ bundles: [podId], runc: [], processes: [] });
    });
  }

  for (const point of ['pull-image:after-layer', 'pull-image:before-record']) {
    it(`PullImage killed at ${point}: no image, its layers collected, the retry succeeds`, async () => {
      await crashAt(point, () => bed.daemon.image.PullImage({ image: { image: extra.reference } }));
      expect((await bed.daemon.image.ImageStatus({ image: { image: extra.reference } })).image).toBeNull();
      expect(await doctor()).toEqual([]);
      await bed.daemon.image.PullImage({ image: { image: extra.reference } });
      expect((await bed.daemon.image.ImageStatus({ image: { image: extra.reference } })).image?.id).toBe(extra.config.digest);
      await bed.daemon.image.RemoveImage({ image: { image: extra.reference } });
    });
  }

  it('RemoveImage killed after the record went: the image stays gone and the next start collects its layers', async () => {
    await bed.daemon.image.PullImage({ image: { image: extra.reference } });
    await crashAt('remove-image:after-record', () => bed.daemon.image.RemoveImage({ image: { image: extra.reference } }));
    expect((await bed.daemon.image.ImageStatus({ image: { image: extra.reference } })).image).toBeNull();
    expect(await doctor()).toEqual([]);
  });
});

describe('doctor', () => {
  // Registered first so that it runs last, once the daemon and its pods are gone.
  afterAll(() => removeParentCgroup('berth-test'));
  const bed = usePodTestBed({ busybox: { config: { Env: ['PATH=/bin'] } } });


  const berthctl = (...args: string[]) => execa(process.execPath, [BERTHCTL, '--address', bed.daemon.socket, ...args], { reject: false });

  it('lists leaks made behind the daemon’s back, repairs them with --fix, and is clean afterwards', async () => {
    expect((await berthctl('doctor')).stdout).toBe('no problems found');
    // A healthy pod and container are no finding.
    const pod = podConfig('doctor');
    const podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    const keep = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('keep', bed.busybox.reference, ['sleep', '1000']));
    // A pod whose directory vanished.
    const lost = podConfig('lost');
    const lostId = (await bed.daemon.runtime.RunPodSandbox({ config: lost })).pod_sandbox_id;
    execFileSync('umount', [join(bed.daemon.state, 'k8s.io', lostId, 'shm')]);
    rmSync(join(bed.daemon.state, 'k8s.io', lostId), { recursive: true });

    // A bundle with a mount and no record.
    const bundle = join(bed.daemon.state, 'k8s.io', 'b'.repeat(64));
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'leak', join(bundle, 'rootfs')]);
    // A network namespace pin no pod owns (a fresh namespace: the fix runs CNI DEL in it).
    const pin = join(bed.daemon.state, 'netns', 'c'.repeat(64));
    writeFileSync(pin, '');
    execFileSync('unshare', [`--net=${pin}`, 'true']);
    // A runc container berth never made.
    const runcBundle = join(bed.daemon.dir, 'stray-bundle');
    writeBusyboxBundle(runcBundle, 'stray', { args: ['sleep', '1000'] });
    // stdio ignored: the created container inherits it and would hold a pipe open forever.
    execFileSync('runc', ['--root', join(bed.daemon.state, 'runc', 'k8s.io'), 'create', '--bundle', runcBundle, 'stray'], { stdio: 'ignore' });
    // A shim serving a bundle no record names.
    const shimBundle = join(bed.daemon.state, 'k8s.io', 'd'.repeat(64));
    mkdirSync(shimBundle, { recursive: true });
    const shim = spawn(process.execPath, [SHIM, '--socket', join(shimBundle, 'shim.sock')], { detached: true, stdio: 'ignore' });
    shim.unref();
    await waitFor('the stray shim to listen', async () => ((await leftovers(bed.daemon, bed.daemon.pid)).processes.some((p) => p.includes('d'.repeat(64))) ? true : undefined));

    const listed = JSON.parse((await berthctl('doctor', '--json')).stdout) as DoctorFinding__Output[];
    const kinds = listed.map((f) => `${f.kind} ${f.subject}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        `bundle-without-metadata ${'b'.repeat(64)}`,
        `mount ${join(bundle, 'rootfs')}`,
        `netns-pin ${'c'.repeat(64)}`,
        `mount ${pin}`,
        'runc-container stray',
        `bundle-without-metadata ${'d'.repeat(64)}`,
        `shim ${shim.pid}`,
        `metadata-without-bundle ${lostId}`,
      ]),
    );
    expect(kinds.join('\n')).not.toContain(keep);
    expect(kinds.join('\n')).not.toContain(podId);

    const fixed = await berthctl('doctor', '--fix', '--json');
    const results = JSON.parse(fixed.stdout) as DoctorFinding__Output[];
    expect(results.filter((f) => !f.fixed)).toEqual([]);
    expect(await doctorFindings(bed.daemon)).toEqual([]);
    await waitFor('the stray shim to be gone', async () => ((await alive(shim.pid!)) ? undefined : true), 5000);
    expect((await bed.daemon.runtime.ContainerStatus({ container_id: keep })).status?.state).toBe('CONTAINER_RUNNING');
    expect((await bed.daemon.runtime.ListPodSandbox({})).items.map((p) => p.id)).toEqual([podId]);
    const left = await leftovers(bed.daemon, bed.daemon.pid);
    expect({ bundles: left.bundles.sort(), runc: left.runc, pins: new Set(left.pins) }).toEqual({ bundles: [podId, keep].sort(), runc: [keep], pins: new Set([podId]) });
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: podId });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  });
});

async function doctorFindings(daemon: BerthdHandle): Promise<DoctorFinding__Output[]> {
  const berth = connectBerth(daemon.socket);
  try {
    return (await berth.doctor.Check({ namespace: '', fix: false })).findings;
  } finally {
    berth.close();
  }
}

/** Keys in the snapshotter's metadata file. */
function snapshotKeys(root: string): string[] {
  const file = join(root, 'snapshots', 'metadata.json');
  return existsSync(file) ? Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { snapshots: object }).snapshots) : [];
}

describe('periodic garbage collection', () => {
  let daemon: BerthdHandle;
  let registry: TestRegistry;
  let proxy: StallingProxy;
  let extra: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startStallingProxy(registry.url);
    extra = await pushImage({ url: registry.url }, 'e2e/extra', '1', await busyboxImage({ config: { Env: ['PATH=/bin'] }, layers: [{ entries: [{ path: 'etc/extra', content: 'x' }] }] }));
    daemon = await startBerthd({ config: { images: { gc_interval: '500ms' } } });
    await writeE2eCniConfig(daemon);
  });
  afterAll(async () => {
    proxy?.release();
    await cleanupPods(daemon);
    await daemon?.cleanup();
    await proxy?.stop();
    await registry?.stop();
  });

  it('keeps the layers of an image a container runs on after RemoveImage, and collects them once the container goes', async () => {
    await daemon.image.PullImage({ image: { image: extra.reference } });
    const pod = podConfig('gc');
    const podId = (await daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    const id = await runContainer(daemon.runtime, podId, pod, containerConfig('gc', extra.reference, ['sleep', '1000']));
    const layers = snapshotKeys(daemon.root).filter((k) => k.startsWith('sha256:'));
    expect(layers).toHaveLength(2);
    await daemon.image.RemoveImage({ image: { image: extra.reference } });
    expect((await daemon.image.ListImages({})).images).toEqual([]);
    // Several periodic runs later the layers are still there: the container's rootfs sits on them.
    await new Promise((r) => setTimeout(r, 1500));
    expect(snapshotKeys(daemon.root)).toEqual(expect.arrayContaining([...layers, id]));
    expect((await daemon.runtime.ExecSync({ container_id: id, cmd: ['cat', '/etc/extra'], timeout: 10 })).stdout.toString()).toBe('x');

    await daemon.runtime.RemoveContainer({ container_id: id });
    await waitFor('the layers to be collected', async () => (snapshotKeys(daemon.root).length === 0 ? true : undefined), 5000);
    await waitFor('the blobs to be collected', async () => (readdirSync(join(daemon.root, 'content', 'blobs', 'sha256')).length === 0 ? true : undefined), 5000);
    await daemon.runtime.StopPodSandbox({ pod_sandbox_id: podId });
    await daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  });

  it('sweeps a bundle no record names while the daemon runs', async () => {
    const stray = join(daemon.state, 'k8s.io', 'e'.repeat(64));
    mkdirSync(join(stray, 'rootfs'), { recursive: true });
    await waitFor('the stray bundle to be swept', async () => (existsSync(stray) ? undefined : true), 5000);
  });

  it('leaves the layers of a pull in progress alone (its lease)', async () => {
    proxy.stall.add(extra.layers[1]!.digest);
    const reference = `${proxy.host}/e2e/extra:1`;
    const pulling = daemon.image.PullImage({ image: { image: reference } }).catch((err: unknown) => err);
    const bottom = extra.diffIds[0] as string;
    await waitFor('the bottom layer to be unpacked', async () => (snapshotKeys(daemon.root).includes(bottom) ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(snapshotKeys(daemon.root)).toContain(bottom);
    proxy.release();
    await pulling;
    proxy.stall.clear();
    await daemon.image.PullImage({ image: { image: reference } });
    expect((await daemon.image.ImageStatus({ image: { image: reference } })).image?.id).toBe(extra.config.digest);
  });
});
