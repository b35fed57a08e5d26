/**
 * The effective configuration of berthd. Key names follow containerd's CRI plugin where one exists, so an
 * operator's knowledge carries over. Durations are strings such as "30s", "5m", "1m30s"; sizes are bytes.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type CgroupDriver = 'cgroupfs' | 'systemd';

export interface RuntimeHandlerConfig {
  /** The OCI runtime binary: a name looked up in PATH, or an absolute path. */
  path: string;
  /**
   * Extra global flags passed before the runtime's sub-command (e.g. ["--debug"]). `--systemd-cgroup` need not be
   * listed: it is added automatically when [cri] cgroup_driver is "systemd".
   */
  args: string[];
}

export interface BerthConfig {
  /** Persistent data: content, snapshots, metadata. Mode 0700. */
  root: string;
  /** Runtime state that does not survive a reboot: bundles, shim sockets, runc root, netns pins. */
  state: string;
  grpc: {
    address: string;
    /** Group owning the socket (mode 0660). */
    gid: number;
    /** Largest request (bytes) the server accepts. */
    max_recv_message_size: number;
    /** Largest response (bytes) the server sends; ListContainers on a busy node can be large. */
    max_send_message_size: number;
  };
  log: { level: LogLevel };
  cri: {
    sandbox_image: string;
    cgroup_driver: CgroupDriver;
    default_runtime: string;
    stream_server_address: string;
    stream_server_port: number;
    stream_tls_cert_file: string;
    stream_tls_key_file: string;
    stream_token_ttl: string;
    stream_idle_timeout: string;
    max_concurrent_downloads: number;
    image_pull_progress_timeout: string;
    registry: { config_path: string };
    cni: { bin_dirs: string[]; conf_dir: string };
    runtimes: Record<string, RuntimeHandlerConfig>;
  };
  images: {
    /** Manifests, indexes and image configs larger than this are refused before they are read whole. */
    max_manifest_bytes: number;
    /** Uncompressed bytes one layer may unpack to. */
    max_layer_unpacked_bytes: number;
    /** Entries one layer may hold. */
    max_layer_entries: number;
    /**
     * How often unreferenced content, snapshots, bundles, namespace pins and runtime containers are collected
     * (besides at start); "0" turns the periodic run off.
     */
    gc_interval: string;
  };
  metrics: { address: string };
}
