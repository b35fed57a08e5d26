import { connectCri, type CriClients } from '../../proto/cri-client.js';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import type { ContainerConfig } from '../../proto/gen/runtime/v1/ContainerConfig.js';
import type { ContainerFilter } from '../../proto/gen/runtime/v1/ContainerFilter.js';
import type { PodSandboxFilter } from '../../proto/gen/runtime/v1/PodSandboxFilter.js';
import type { Container__Output } from '../../proto/gen/runtime/v1/Container.js';
import type { PodSandbox__Output } from '../../proto/gen/runtime/v1/PodSandbox.js';
import type { Image__Output } from '../../proto/gen/runtime/v1/Image.js';
import type { VersionResponse__Output } from '../../proto/gen/runtime/v1/VersionResponse.js';

/**
 * The CRI calls the benches make, issued the same way against any runtime so that differences in the numbers
 * come from the runtime and not from the client. Every call has a deadline (a hung runtime fails the bench
 * instead of stalling it), and a failure names the RPC and the socket.
 */
export class CriClient {
  private readonly cri: CriClients;

  constructor(readonly socket: string, private readonly callTimeoutMs = 120_000) {
    this.cri = connectCri(socket);
  }

  close(): void {
    this.cri.close();
  }

  private async call<T>(rpc: string, pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      throw new Error(`${rpc} on ${this.socket}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  private get timeout(): { timeoutMs: number } {
    return { timeoutMs: this.callTimeoutMs };
  }

  version(): Promise<VersionResponse__Output> {
    return this.call('Version', this.cri.runtime.Version({ version: 'v1' }, { timeoutMs: 5_000 }));
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
    const res = await this.call('PullImage', this.cri.image.PullImage(
      { image: { image }, sandbox_config: sandboxConfig ?? null }, { timeoutMs: 600_000 }));
    return res.image_ref;
  }

  /** The image as the runtime reports it, or null when it does not have it. */
  async imageStatus(image: string): Promise<Image__Output | null> {
    return (await this.call('ImageStatus', this.cri.image.ImageStatus({ image: { image } }, this.timeout))).image;
  }

  async removeImage(image: string): Promise<void> {
    await this.call('RemoveImage', this.cri.image.RemoveImage({ image: { image } }, this.timeout));
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.call('RunPodSandbox', this.cri.runtime.RunPodSandbox({ config }, this.timeout))).pod_sandbox_id;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox',
      this.cri.runtime.StopPodSandbox({ pod_sandbox_id: podSandboxId }, this.timeout));
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox',
      this.cri.runtime.RemovePodSandbox({ pod_sandbox_id: podSandboxId }, this.timeout));
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig):
    Promise<string> {
    const res = await this.call('CreateContainer', this.cri.runtime.CreateContainer(
      { pod_sandbox_id: podSandboxId, config, sandbox_config: sandboxConfig }, this.timeout));
    return res.container_id;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call('StartContainer', this.cri.runtime.StartContainer({ container_id: containerId }, this.timeout));
  }

  async stopContainer(containerId: string, timeoutSeconds = 0): Promise<void> {
    await this.call('StopContainer', this.cri.runtime.StopContainer(
      { container_id: containerId, timeout: String(timeoutSeconds) }, this.timeout));
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.call('RemoveContainer',
      this.cri.runtime.RemoveContainer({ container_id: containerId }, this.timeout));
  }

  async listContainers(filter?: ContainerFilter): Promise<Container__Output[]> {
    const res = await this.call('ListContainers',
      this.cri.runtime.ListContainers({ filter: filter ?? null }, this.timeout));
    return res.containers;
  }

  async listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox__Output[]> {
    const res = await this.call('ListPodSandbox',
      this.cri.runtime.ListPodSandbox({ filter: filter ?? null }, this.timeout));
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
