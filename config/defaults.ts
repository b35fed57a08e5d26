import type { BerthConfig } from './types.js';

/** Built-in defaults. A config file overrides only the keys it names. */
export function defaultConfig(): BerthConfig {
  return {
    root: '/var/lib/berth',
    state: '/run/berth',
    grpc: {
      address: '/run/berth/berth.sock',
      gid: 0,
      max_recv_message_size: 16 * 1024 * 1024,
      max_send_message_size: 16 * 1024 * 1024,
    },
    log: { level: 'info' },
    cri: {
      sandbox_image: 'registry.k8s.io/pause:3.9',
      cgroup_driver: 'cgroupfs',
      default_runtime: 'runc',
      stream_server_address: '127.0.0.1',
      stream_server_port: 0,
      stream_tls_cert_file: '',
      stream_tls_key_file: '',
      stream_token_ttl: '1m',
      stream_idle_timeout: '4h',
      max_concurrent_downloads: 3,
      image_pull_progress_timeout: '5m',
      registry: { config_path: '/etc/berth/certs.d' },
      cni: { bin_dirs: ['/opt/cni/bin', '/usr/lib/cni'], conf_dir: '/etc/cni/net.d' },
      runtimes: { runc: { path: 'runc', args: [] } },
    },
    images: {
      max_manifest_bytes: 4 * 1024 * 1024,
      max_layer_unpacked_bytes: 16 * 1024 * 1024 * 1024,
      max_layer_entries: 1_000_000,
      gc_interval: '10m',
    },
    metrics: { address: '' },
  };
}
