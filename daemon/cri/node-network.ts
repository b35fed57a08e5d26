/**
 * Node-level network settings that kubelet pushes with UpdateRuntimeConfig. Kept in memory only: kubelet
 * sends the pod CIDR again after every runtime restart. The network plugin reads it through `podCidr()`.
 */
export class NodeNetworkSettings {
  #podCidr = '';

  /** The node's pod CIDR, or "" until kubelet has sent one. */
  podCidr(): string {
    return this.#podCidr;
  }

  setPodCidr(cidr: string): void {
    this.#podCidr = cidr;
  }
}
