import { isAbsolute } from 'node:path';
import { parseDuration } from './duration.js';
import type { RuntimeHandlerConfig } from './types.js';

/**
 * The shape of the config file, key by key. Every leaf says its TOML type and what a valid value is; the
 * loader rejects keys the schema does not name, so a typo never silently falls back to a default.
 * A `check` returns a problem sentence, or undefined when the value is fine.
 */
export type Rule =
  | { kind: 'string'; check?: (value: string) => string | undefined }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'string-array'; check?: (value: string) => string | undefined }
  | { kind: 'table'; fields: Readonly<Record<string, Rule>> }
  /** A table whose keys the operator chooses; a new entry starts from `template` and must end up complete. */
  | { kind: 'map'; value: Rule & { kind: 'table' }; template: () => object };

const absolutePath = (value: string): string | undefined =>
  isAbsolute(value) ? undefined : `must be an absolute path, got "${value}"`;

const optionalAbsolutePath = (value: string): string | undefined => (value === '' ? undefined : absolutePath(value));

const nonEmpty = (value: string): string | undefined => (value === '' ? 'must not be empty' : undefined);

const oneOf =
  (allowed: readonly string[]) =>
  (value: string): string | undefined =>
    allowed.includes(value) ? undefined : `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got "${value}"`;

const duration = (value: string): string | undefined =>
  parseDuration(value) === undefined ? `must be a duration such as "30s", "5m" or "1m30s", got "${value}"` : undefined;

const hostOrEmpty = (value: string): string | undefined =>
  /^[A-Za-z0-9.:_-]*$/.test(value) ? undefined : `must be a host name or IP address, got "${value}"`;

/** "host:port" or empty (disabled). */
const listenAddressOrEmpty = (value: string): string | undefined =>
  value === '' || /^[A-Za-z0-9.\-_[\]:]*:\d{1,5}$/.test(value) ? undefined : `must be "host:port" or "", got "${value}"`;

const MIB = 1024 * 1024;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const CGROUP_DRIVERS = ['cgroupfs', 'systemd'] as const;

const runtimeHandler: Rule & { kind: 'table' } = {
  kind: 'table',
  fields: {
    path: { kind: 'string', check: nonEmpty },
    args: { kind: 'string-array' },
  },
};

/** A runtime named only in the file has no built-in values: its path must be given, args default to none. */
const runtimeTemplate = (): Partial<RuntimeHandlerConfig> => ({ args: [] });

export const CONFIG_SCHEMA: Rule & { kind: 'table' } = {
  kind: 'table',
  fields: {
    root: { kind: 'string', check: absolutePath },
    state: { kind: 'string', check: absolutePath },
    grpc: {
      kind: 'table',
      fields: {
        address: { kind: 'string', check: absolutePath },
        gid: { kind: 'integer', min: 0, max: 2 ** 32 - 2 },
        max_recv_message_size: { kind: 'integer', min: 1024, max: 2 ** 31 - 1 },
        max_send_message_size: { kind: 'integer', min: 1024, max: 2 ** 31 - 1 },
      },
    },
    log: { kind: 'table', fields: { level: { kind: 'string', check: oneOf(LOG_LEVELS) } } },
    cri: {
      kind: 'table',
      fields: {
        sandbox_image: { kind: 'string', check: nonEmpty },
        cgroup_driver: { kind: 'string', check: oneOf(CGROUP_DRIVERS) },
        default_runtime: { kind: 'string', check: nonEmpty },
        stream_server_address: { kind: 'string', check: hostOrEmpty },
        stream_server_port: { kind: 'integer', min: 0, max: 65535 },
        stream_tls_cert_file: { kind: 'string', check: optionalAbsolutePath },
        stream_tls_key_file: { kind: 'string', check: optionalAbsolutePath },
        stream_token_ttl: { kind: 'string', check: duration },
        stream_idle_timeout: { kind: 'string', check: duration },
        max_concurrent_downloads: { kind: 'integer', min: 1, max: 64 },
        image_pull_progress_timeout: { kind: 'string', check: duration },
        registry: { kind: 'table', fields: { config_path: { kind: 'string', check: optionalAbsolutePath } } },
        cni: {
          kind: 'table',
          fields: {
            bin_dirs: { kind: 'string-array', check: absolutePath },
            conf_dir: { kind: 'string', check: absolutePath },
          },
        },
        runtimes: { kind: 'map', value: runtimeHandler, template: runtimeTemplate },
      },
    },
    images: {
      kind: 'table',
      fields: {
        max_manifest_bytes: { kind: 'integer', min: 1024, max: 1024 * MIB },
        max_layer_unpacked_bytes: { kind: 'integer', min: MIB, max: MAX_SAFE },
        max_layer_entries: { kind: 'integer', min: 1, max: MAX_SAFE },
        gc_interval: { kind: 'string', check: duration },
      },
    },
    metrics: { kind: 'table', fields: { address: { kind: 'string', check: listenAddressOrEmpty } } },
  },
};
