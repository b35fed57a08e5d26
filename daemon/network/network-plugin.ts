/**
 * The contract between the sandbox service and whatever gives pods their network. The sandbox service creates
 * the pod's network namespace (daemon/linux/namespace-pins.ts), with lo already up, and hands its pin path here;
 * the plugin puts the pod's other interfaces and addresses in it. The CNI implementation lives in ./cni/.
 */

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
  /** Host address to bind; empty or absent means all. */
  hostIp?: string;
}

/** Traffic shaping, as the `bandwidth` CNI plugin takes it: rates in bits per second, bursts in bits. */
export interface Bandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

export interface PodDns {
  servers: string[];
  searches: string[];
  options: string[];
}

/** What identifies a pod's network attachment; enough to tear it down. */
export interface PodNetworkRef {
  /** The sandbox id (CNI_CONTAINERID). */
  id: string;
  namespace: string;
  name: string;
  uid: string;
  /** Pin path of the pod's network namespace; it may be gone by tear-down time. */
  netnsPath: string;
}

export interface PodNetworkSpec extends PodNetworkRef {
  portMappings: PortMapping[];
  bandwidth?: Bandwidth;
  /** The pod's cgroup parent, for plugins that declare the cgroupPath capability. */
  cgroupParent?: string;
  dns?: PodDns;
}

export interface PodInterface {
  name: string;
  mac?: string;
  /** The netns path the interface lives in; absent for host-side interfaces (bridges, veth peers). */
  sandbox?: string;
}

export interface PodNetworkResult {
  /** The pod's addresses without prefix length, primary first (what PodSandboxStatus reports). */
  ips: string[];
  /** The same addresses in CIDR form with the gateway, for logs and status details. */
  addresses: { address: string; gateway?: string; interface?: string }[];
  interfaces: PodInterface[];
}

export type NetworkStatus = { ready: true } | { ready: false; reason: string; message: string };

export interface NetworkPlugin {
  /** Attaches the pod; on failure nothing stays attached (the plugin tears down what it set up). */
  setUp(pod: PodNetworkSpec): Promise<PodNetworkResult>;
  /** Detaches the pod. Idempotent: succeeds when the pod was never set up, already torn down or its netns is gone. */
  tearDown(pod: PodNetworkRef): Promise<void>;
  /** Verifies the pod's attachment is still as set up; throws a BerthError naming what is wrong. */
  check(pod: PodNetworkRef): Promise<void>;
  /**
   * Sandboxes with an attachment on record (set up and not yet torn down), for restart recovery: tear down
   * those the sandbox store no longer knows.
   */
  attachments(): Promise<PodNetworkRef[]>;
  /** Whether new pods can be set up now (the CRI NetworkReady condition). */
  status(): Promise<NetworkStatus>;
}
