import * as grpc from '@grpc/grpc-js';
import { loadCriPackage } from '../../proto/cri-proto.js';
import type { RuntimeServiceClient } from '../../proto/gen/runtime/v1/RuntimeService.js';
import type { ImageServiceClient } from '../../proto/gen/runtime/v1/ImageService.js';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import type { ContainerConfig } from '../../proto/gen/runtime/v1/ContainerConfig.js';
import type { ContainerFilter } from '../../proto/gen/runtime/v1/ContainerFilter.js';
import type { PodSandboxFilter } from '../../proto/gen/runtime/v1/PodSandboxFilter.js';
import type { Container__Output } from '../../proto/gen/runtime/v1/Container.js';
import type { PodSandbox__Output } from '../../proto/gen/runtime/v1/PodSandbox.js';
import type { VersionResponse__Output } from '../../proto/gen/runtime/v1/VersionResponse.js';
import type { Image__Output } from '../../proto/gen/runtime/v1/Image.js';
import type { ImageStatusResponse__Output } from '../../proto/gen/runtime/v1/ImageStatusResponse.js';
import type { PullImageResponse__Output } from '../../proto/gen/runtime/v1/PullImageResponse.js';
import type { RunPodSandboxResponse__Output } from '../../proto/gen/runtime/v1/RunPodSandboxResponse.js';
import type { CreateContainerResponse__Output } from '../../proto/gen/runtime/v1/CreateContainerResponse.js';
import type { ListContainersResponse__Output } from '../../proto/gen/runtime/v1/ListContainersResponse.js';
import type { ListPodSandboxResponse__Output } from '../../proto/gen/runtime/v1/ListPodSandboxResponse.js';

type Invoke<T> = (options: grpc.CallOptions, callback: grpc.requestCallback<T>) => grpc.ClientUnaryCall;

/**
 * The CRI calls the benches make, issued the same way against any runtime so that differences in the numbers
 * come from the runtime and not from the client. Every call has a deadline: a hung runtime fails the bench
 * instead of stalling it.
 */
export class CriClient {
  private readonly runtime: RuntimeServiceClient;
  private readonly images: ImageServiceClient;

  /** endpoint: `unix:///path/to.sock`. */
  constructor(readonly endpoint: string, private readonly callTimeoutMs = 120_000) {
    const cri = loadCriPackage();
    const credentials = grpc.credentials.createInsecure();
    // Both stubs share one channel, as kubelet's do.
    this.runtime = new cri.RuntimeService(endpoint, credentials);
    this.images = new cri.ImageService(endpoint, credentials, { channelOverride: this.runtime.getChannel() });
  }

  close(): void {
    this.runtime.close();
  }

  private unary<T>(rpc: string, invoke: Invoke<T>, timeoutMs = this.callTimeoutMs): Promise<T> {
    return new Promise((resolve, reject) => {
      invoke({ deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) reject(new Error(`${rpc} on ${this.endpoint}: ${err.message}`, { cause: err }));
        else if (res === undefined) reject(new Error(`${rpc} on ${this.endpoint}: empty response`));
        else resolve(res);
      });
    });
  }

  version(): Promise<VersionResponse__Output> {
    return this.unary('Version', (o, cb) => this.runtime.version({ version: 'v1' }, o, cb), 5_000);
  }

  /** Retry Version until the runtime answers: a daemon may listen before its CRI service is ready. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.version();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Returns the image ref (the runtime's id for the pulled image). */
  async pullImage(image: string, sandboxConfig?: PodSandboxConfig): Promise<string> {
    const res = await this.unary<PullImageResponse__Output>('PullImage', (o, cb) =>
      this.images.pullImage({ image: { image }, sandbox_config: sandboxConfig ?? null }, o, cb), 600_000);
    return res.image_ref;
  }

  /** The image as the runtime reports it, or null when it does not have it. */
  async imageStatus(image: string): Promise<Image__Output | null> {
    const res = await this.unary<ImageStatusResponse__Output>('ImageStatus', (o, cb) =>
      this.images.imageStatus({ image: { image } }, o, cb));
    return res.image;
  }

  async removeImage(image: string): Promise<void> {
    await this.unary('RemoveImage', (o, cb) => this.images.removeImage({ image: { image } }, o, cb));
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const res = await this.unary<RunPodSandboxResponse__Output>('RunPodSandbox', (o, cb) =>
      this.runtime.runPodSandbox({ config }, o, cb));
    return res.pod_sandbox_id;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.unary('StopPodSandbox', (o, cb) =>
      this.runtime.stopPodSandbox({ pod_sandbox_id: podSandboxId }, o, cb));
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.unary('RemovePodSandbox', (o, cb) =>
      this.runtime.removePodSandbox({ pod_sandbox_id: podSandboxId }, o, cb));
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig):
    Promise<string> {
    const res = await this.unary<CreateContainerResponse__Output>('CreateContainer', (o, cb) =>
      this.runtime.createContainer({ pod_sandbox_id: podSandboxId, config, sandbox_config: sandboxConfig }, o, cb));
    return res.container_id;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.unary('StartContainer', (o, cb) => this.runtime.startContainer({ container_id: containerId }, o, cb));
  }

  async stopContainer(containerId: string, timeoutSeconds = 0): Promise<void> {
    await this.unary('StopContainer', (o, cb) =>
      this.runtime.stopContainer({ container_id: containerId, timeout: String(timeoutSeconds) }, o, cb));
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.unary('RemoveContainer', (o, cb) => this.runtime.removeContainer({ container_id: containerId }, o, cb));
  }

  async listContainers(filter?: ContainerFilter): Promise<Container__Output[]> {
    const res = await this.unary<ListContainersResponse__Output>('ListContainers', (o, cb) =>
      this.runtime.listContainers({ filter: filter ?? null }, o, cb));
    return res.containers;
  }

  async listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox__Output[]> {
    const res = await this.unary<ListPodSandboxResponse__Output>('ListPodSandbox', (o, cb) =>
      this.runtime.listPodSandbox({ filter: filter ?? null }, o, cb));
    return res.items;
  }

  /** Stop and remove every pod (and so every container) the runtime knows; leaves the runtime empty. */
  async removeAllPods(): Promise<void> {
    for (const pod of await this.listPodSandbox()) {
      await this.stopPodSandbox(pod.id);
      await this.removePodSandbox(pod.id);
    }
  }
}
