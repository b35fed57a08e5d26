import { readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parseDuration } from '../../config/duration.js';
import { BerthError, failedPrecondition } from '../errors/errors.js';

/**
 * Per-registry host configuration in containerd's certs.d layout: `<config_path>/<host>/hosts.toml` lists the
 * mirrors (`[host."URL"]`, tried in order) and the upstream `server` (tried last). Files are read on every
 * lookup, so an operator's change applies to the next pull without a restart, as in containerd.
 */
export type HostCapability = 'pull' | 'resolve' | 'push';

export interface RegistryHost {
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  origin: string;
  /** API root that `/<repo>/manifests/…` is appended to: `/v2`, or the URL's own path with override_path. */
  apiPath: string;
  capabilities: HostCapability[];
  skipVerify: boolean;
  /** Extra CA certificates (PEM) trusted on top of the system roots. */
  ca: Buffer[];
  /** TLS client certificates and their keys (PEM). */
  clientCerts: ClientCert[];
  /** How long a TCP connect may take before the next host is tried (dial_timeout). */
  dialTimeoutMs: number;
  /** HTTP proxy URL for this host; without it the environment's HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply. */
  proxy?: string;
  headers: Record<string, string[]>;
  /** Retry over plain HTTP when the host answers TLS with HTTP (registries on localhost, as containerd does). */
  httpFallback: boolean;
  /** Not the registry's own host: requests carry `?ns=<registry>` so a mirror knows which upstream is meant. */
  mirror: boolean;
}

export interface ClientCert {
  cert: Buffer;
  key: Buffer;
}

/** containerd's default dial_timeout. */
const DEFAULT_DIAL_TIMEOUT_MS = 30_000;
const ALL_CAPABILITIES: HostCapability[] = ['pull', 'resolve', 'push'];
const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

/** The hosts to try for `domain`, in order: configured mirrors first, then the server. */
export async function registryHosts(configPath: string | undefined, domain: string): Promise<RegistryHost[]> {
  for (const dir of configPath ? hostDirs(configPath, domain) : []) {
    const file = join(dir, 'hosts.toml');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new BerthError('FailedPrecondition', `cannot read registry host config ${file}: ${String(err)}`, { cause: err });
      const certs = await dockerCertFiles(dir);
      if (certs !== undefined) return [{ ...defaultHost(domain), ca: certs }];
      continue;
    }
    return parseHostsToml(text, file, domain);
  }
  return [defaultHost(domain)];
}

/** containerd's lookup order: `host_port_` (portable spelling), `host:port`, then `_default`. */
function hostDirs(configPath: string, domain: string): string[] {
  const colon = domain.lastIndexOf(':');
  const hasPort = colon > domain.lastIndexOf(']');
  const dirs = hasPort ? [`${domain.slice(0, colon)}_${domain.slice(colon + 1)}_`, domain] : [domain];
  return [...dirs, '_default'].map((d) => join(configPath, d));
}

function defaultHost(domain: string): RegistryHost {
  const host = domain === DOCKER_HUB ? DOCKER_HUB_API : domain;
  return {
    origin: `https://${host}`,
    apiPath: '/v2',
    capabilities: ALL_CAPABILITIES,
    skipVerify: false,
    ca: [],
    clientCerts: [],
    dialTimeoutMs: DEFAULT_DIAL_TIMEOUT_MS,
    headers: {},
    httpFallback: isLocalhost(host),
    mirror: false,
  };
}

function isLocalhost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name ?? '');
}

/** Docker's certs.d pattern, honoured when a host directory has no hosts.toml: `*.crt` files are CAs. */
async function dockerCertFiles(dir: string): Promise<Buffer[] | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BerthError('FailedPrecondition', `cannot read registry host config directory ${dir}: ${String(err)}`, { cause: err });
  }
  const crts = names.filter((n) => n.endsWith('.crt')).sort();
  return Promise.all(crts.map((n) => readFile(join(dir, n))));
}

async function parseHostsToml(text: string, file: string, domain: string): Promise<RegistryHost[]> {
  const bad = (why: string): never => {
    throw failedPrecondition(`registry host config ${file} is invalid: ${why}; fix the file (containerd hosts.toml format)`, { file });
  };
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    return bad(err instanceof Error ? err.message : String(err));
  }
  const ownHost = domain === DOCKER_HUB ? DOCKER_HUB_API : domain;
  const toHost = async (url: string, table: Record<string, unknown>, where: string): Promise<RegistryHost> => {
    const parsed = parseHostUrl(url, where, bad);
    const overridePath = optionalBoolean(table.override_path, `${where}.override_path`, bad) ?? false;
    return {
      origin: parsed.origin,
      apiPath: apiPathOf(parsed.pathname, overridePath),
      capabilities: capabilitiesOf(table.capabilities, `${where}.capabilities`, bad),
      skipVerify: optionalBoolean(table.skip_verify, `${where}.skip_verify`, bad) ?? false,
      ca: await Promise.all(pathsOf(table.ca, `${where}.ca`, bad).map((p) => readConfigFile(p, dirname(file), `${where}.ca`, bad))),
      clientCerts: await clientCertsOf(table.client, `${where}.client`, dirname(file), bad),
      dialTimeoutMs: dialTimeoutOf(table.dial_timeout, `${where}.dial_timeout`, bad),
      ...(table.proxy !== undefined && { proxy: proxyOf(table.proxy, `${where}.proxy`, bad) }),
      headers: headersOf(table.header, `${where}.header`, bad),
      httpFallback: false,
      mirror: parsed.host !== ownHost,
    };
  };

  const hosts: RegistryHost[] = [];
  const hostTables = doc.host ?? {};
  if (!isTable(hostTables)) bad('"host" must be a table of [host."URL"] sections');
  for (const [url, table] of Object.entries(hostTables as Record<string, unknown>)) {
    if (!isTable(table)) bad(`[host."${url}"] must be a table`);
    hosts.push(await toHost(url, table as Record<string, unknown>, `host."${url}"`));
  }
  if (doc.server === undefined) {
    // Root-level options without `server` still configure the registry's own host.
    const own = defaultHost(domain);
    hosts.push({ ...(await toHost(own.origin, doc, 'root')), httpFallback: own.httpFallback });
  } else {
    if (typeof doc.server !== 'string') bad('"server" must be a URL string');
    hosts.push(await toHost(doc.server as string, doc, 'server'));
  }
  return hosts;
}

function parseHostUrl(raw: string, where: string, bad: (why: string) => never): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return bad(`${where}: "${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') bad(`${where}: "${raw}" must be http or https`);
  if (url.hostname === DOCKER_HUB) url.hostname = DOCKER_HUB_API;
  return url;
}

function apiPathOf(pathname: string, overridePath: boolean): string {
  const path = pathname.replace(/\/+$/, '');
  if (overridePath) return path;
  return path.endsWith('/v2') ? path : `${path}/v2`;
}

function capabilitiesOf(value: unknown, where: string, bad: (why: string) => never): HostCapability[] {
  if (value === undefined) return ALL_CAPABILITIES;
  if (!Array.isArray(value)) return bad(`${where} must be a list such as ["pull", "resolve"]`);
  for (const c of value) if (!ALL_CAPABILITIES.includes(c as HostCapability)) bad(`${where}: unknown capability ${JSON.stringify(c)} (pull, resolve, push)`);
  return value as HostCapability[];
}

function optionalBoolean(value: unknown, where: string, bad: (why: string) => never): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  return bad(`${where} must be true or false`);
}

function pathsOf(value: unknown, where: string, bad: (why: string) => never): string[] {
  if (value === undefined) return [];
  const paths = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) return bad(`${where} must be a path or a list of paths`);
  return paths as string[];
}

/** `client` is a path, a list of paths (each PEM holding certificate and key), or a list of [cert, key] pairs. */
async function clientCertsOf(value: unknown, where: string, baseDir: string, bad: (why: string) => never): Promise<ClientCert[]> {
  const pairs = Array.isArray(value) && value.some(Array.isArray) ? value : pathsOf(value, where, bad).map((p) => [p, '']);
  return Promise.all(
    pairs.map(async (pair: unknown) => {
      if (!Array.isArray(pair) || pair.length < 1 || pair.length > 2 || !pair.every((p) => typeof p === 'string')) {
        return bad(`${where} must be a path, a list of paths, or a list of [certificate, key] path pairs`);
      }
      const [certPath, keyPath] = pair as [string, string?];
      const cert = await readConfigFile(certPath, baseDir, where, bad);
      return { cert, key: keyPath ? await readConfigFile(keyPath, baseDir, where, bad) : cert };
    }),
  );
}

/** Paths in hosts.toml are absolute or relative to the file. */
async function readConfigFile(path: string, baseDir: string, where: string, bad: (why: string) => never): Promise<Buffer> {
  const file = isAbsolute(path) ? path : resolve(baseDir, path);
  try {
    return await readFile(file);
  } catch (err) {
    return bad(`${where}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function proxyOf(value: unknown, where: string, bad: (why: string) => never): string {
  if (typeof value !== 'string') return bad(`${where} must be a URL such as "http://proxy.example:3128"`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return bad(`${where}: "${value}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') bad(`${where}: only http and https proxies are supported`);
  return value;
}

function dialTimeoutOf(value: unknown, where: string, bad: (why: string) => never): number {
  if (value === undefined) return DEFAULT_DIAL_TIMEOUT_MS;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || ms <= 0) return bad(`${where} must be a duration such as "1s" or "500ms"`);
  return ms;
}

function headersOf(value: unknown, where: string, bad: (why: string) => never): Record<string, string[]> {
  if (value === undefined) return {};
  if (!isTable(value)) return bad(`${where} must be a table of header names to a string or a list of strings`);
  const headers: Record<string, string[]> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const values = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(values) || !values.every((x) => typeof x === 'string')) bad(`${where}.${name} must be a string or a list of strings`);
    headers[name.toLowerCase()] = values as string[];
  }
  return headers;
}

function isTable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
