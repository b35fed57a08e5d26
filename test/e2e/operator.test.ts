import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../config/defaults.js';
import { renderCrictlConfig } from '../../daemon/systemd/install.js';
import { formatConfig } from '../../config/load.js';
import { CRICTL } from '../fixtures/crictl.js';
import { busyboxImage, pushImage, type PushedImage } from '../fixtures/images.js';
import { freePort, startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { openNotifySocket, type NotifySocket } from '../fixtures/notify-socket.js';
import { BERTHD_MAIN, makeTestDir, runBerthd, startBerthd, type BerthdHandle } from '../harness/berthd.js';

/** Operator stories: install the unit, run under systemd's notify protocol, reload with SIGHUP, scrape metrics. */

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}
const WARN = 40;
const ERROR = 50;

function logLines(daemon: BerthdHandle): LogLine[] {
  return daemon
    .logs()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

async function waitForLog(daemon: BerthdHandle, match: (line: LogLine) => boolean, after = 0): Promise<LogLine> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = logLines(daemon).slice(after).find(match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no matching log line:\n${daemon.logs()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('berthd install / uninstall', () => {
  let root: string;
  beforeAll(async () => {
    root = await makeTestDir();
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const unitPath = () => join(root, 'etc/systemd/system/berth.service');
  const configPath = () => join(root, 'etc/berth/config.toml');
  const crictlPath = () => join(root, 'etc/crictl.yaml');

  it('writes the unit, a default config and crictl.yaml', async () => {
    const result = await runBerthd(['install', '--prefix-root', root]);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const unit = await readFile(unitPath(), 'utf8');
    expect(unit).toContain(`\nExecStart=${process.execPath} ${BERTHD_MAIN}\n`);
    for (const line of ['Type=notify', 'KillMode=process', 'Delegate=yes', 'ExecStartPre=-/sbin/modprobe overlay', 'Restart=always', 'OOMScoreAdjust=-999', 'LimitNOFILE=infinity', 'TasksMax=infinity', 'Before=kubelet.service', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      expect(unit).toContain(`\n${line}\n`);
    }
    expect(unit).toMatch(/\nWatchdogSec=\d+\n/);
    const shipped = await readFile(new URL('../../systemd/berth.service', import.meta.url), 'utf8');
    const withoutExecStart = (text: string): string => text.replace(/^ExecStart=.*$/m, '');
    expect(withoutExecStart(unit)).toBe(withoutExecStart(shipped));
    expect(await readFile(configPath(), 'utf8')).toBe(formatConfig(defaultConfig()));
    expect(await readFile(crictlPath(), 'utf8')).toContain('runtime-endpoint: unix:///run/berth/berth.sock\nimage-endpoint: unix:///run/berth/berth.sock\ntimeout: 10\n');
    for (const path of [unitPath(), configPath(), crictlPath()]) expect((await stat(path)).mode & 0o777, path).toBe(0o644);
  });

  it('produces a unit systemd-analyze verify accepts without a word', () => {
    const verify = spawnSync('systemd-analyze', ['verify', unitPath()], { encoding: 'utf8' });
    expect({ status: verify.status, stdout: verify.stdout, stderr: verify.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('keeps an existing config and another runtime\'s crictl.yaml on install', async () => {
    await writeFile(configPath(), '[log]\nlevel = "debug"\n');
    await writeFile(crictlPath(), 'runtime-endpoint: unix:///run/containerd/containerd.sock\n');
    const result = await runBerthd(['install', '--prefix-root', root]);
    expect(result.stdout).toMatch(/kept \(exists\)\s+\S+config\.toml/);
    expect(result.stdout).toMatch(/kept \(differs from berth default\)\s+\S+crictl\.yaml/);
    expect(await readFile(configPath(), 'utf8')).toBe('[log]\nlevel = "debug"\n');
  });

  it('uninstall removes what install wrote and keeps what the operator changed', async () => {
    await rm(crictlPath());
    await runBerthd(['install', '--prefix-root', root]);
    const result = await runBerthd(['uninstall', '--prefix-root', root]);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/removed\s+\S+berth\.service/);
    expect(result.stdout).toMatch(/kept \(modified\)\s+\S+config\.toml/);
    await expect(stat(unitPath())).rejects.toThrow(/ENOENT/);
    await expect(stat(crictlPath())).rejects.toThrow(/ENOENT/);
    expect(await readFile(configPath(), 'utf8')).toBe('[log]\nlevel = "debug"\n');
    // An unchanged default config goes too.
    await rm(configPath());
    await runBerthd(['install', '--prefix-root', root]);
    await runBerthd(['uninstall', '--prefix-root', root]);
    await expect(stat(configPath())).rejects.toThrow(/ENOENT/);
  });
});

describe('berthd under systemd, reloaded and scraped', () => {
  let daemon: BerthdHandle;
  let notify: NotifySocket;
  let metricsPort: number;
  let registry: TestRegistry;
  let busybox: PushedImage;

  const scrape = async (port = metricsPort): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  async function editConfig(change: (config: Record<string, any>) => void): Promise<void> {
    const config = parse(await readFile(daemon.configPath, 'utf8')) as Record<string, any>;
    change(config);
    await writeFile(daemon.configPath, stringify(config));
  }

  /** SIGHUP, then the reload's outcome line (info "config reloaded…" or error "config reload refused…"). */
  async function reload(): Promise<LogLine> {
    const seen = logLines(daemon).length;
    process.kill(daemon.pid, 'SIGHUP');
    return waitForLog(daemon, (line) => /^config reload(ed| refused| failed)/.test(line.msg), seen);
  }

  beforeAll(async () => {
    registry = await startRegistry();
    busybox = await pushImage({ url: registry.url }, 'library/busybox', '1', await busyboxImage());
    notify = openNotifySocket();
    metricsPort = await freePort();
    daemon = await startBerthd({
      config: {
        log: { level: 'info' },
        metrics: { address: `127.0.0.1:${metricsPort}` },
        cri: { runtimes: { broken: { path: '/nonexistent/bin/runc', args: [] } } },
      },
      env: { NOTIFY_SOCKET: notify.address, WATCHDOG_USEC: '200000' },
    });
  });
  afterAll(async () => {
    await daemon?.cleanup();
    notify?.close();
    await registry?.stop();
  });

  it('tells systemd it is ready once the socket serves, and pings the watchdog at half its interval', async () => {
    await notify.waitFor((m) => m.split('\n').includes('READY=1'));
    expect(notify.messages.find((m) => m.includes('READY=1'))).toContain(`MAINPID=${daemon.pid}`);
    const start = notify.messages.length;
    await new Promise((r) => setTimeout(r, 450));
    // 100 ms interval: about four pings in 450 ms, and certainly more than one.
    expect(notify.messages.slice(start).filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(2);
  });

  it('warns at start about a runtime binary that is missing and a node without CNI config', async () => {
    const runtime = await waitForLog(daemon, (line) => line.check === 'runtime-binary');
    expect(runtime.level).toBe(WARN);
    expect(runtime.msg).toContain('/nonexistent/bin/runc does not exist or is not executable');
    expect(runtime.msg).toContain('[cri.runtimes.broken] path');
    const network = await waitForLog(daemon, (line) => line.check === 'network');
    expect(network.level).toBe(WARN);
    expect(network.msg).toContain(`no network config found in ${join(daemon.dir, 'cni/net.d')}`);
  });

  it('reports a CNI config that does not parse in Status, naming the file', async () => {
    const confDir = join(daemon.dir, 'cni/net.d');
    await mkdir(confDir, { recursive: true });
    await writeFile(join(confDir, '10-bad.conflist'), '{ "cniVersion": "1.0.0", "name": ');
    try {
      const { status } = await daemon.runtime.Status({ verbose: false });
      const network = status?.conditions.find((c) => c.type === 'NetworkReady');
      expect(network).toMatchObject({ status: false, reason: 'NetworkPluginNotReady' });
      expect(network?.message).toContain(`CNI config ${join(confDir, '10-bad.conflist')} is not valid JSON`);
      // The missing binary belongs to a handler that is not the default: the runtime itself is ready.
      expect(status?.conditions.find((c) => c.type === 'RuntimeReady')).toMatchObject({ status: true });
    } finally {
      await rm(join(confDir, '10-bad.conflist'));
    }
  });

  it.skipIf(CRICTL === undefined)('lets crictl work from the crictl.yaml install writes, with no flag and no warning', async () => {
    const file = join(daemon.dir, 'crictl.yaml');
    await writeFile(file, renderCrictlConfig(daemon.socket));
    const ps = spawnSync(CRICTL!, ['--config', file, 'ps', '-a'], { encoding: 'utf8' });
    expect({ status: ps.status, stderr: ps.stderr }).toEqual({ status: 0, stderr: '' });
    expect(ps.stdout).toMatch(/^CONTAINER\s+IMAGE/);
  });

  it('serves per-RPC counts and latency histograms', async () => {
    for (let i = 0; i < 3; i++) await daemon.runtime.Version({});
    const text = await scrape();
    const count = Number(/berth_cri_requests_total\{method="runtime\.v1\.RuntimeService\/Version",code="OK"\} (\d+)/.exec(text)?.[1]);
    // The harness's readiness probe calls Version too.
    expect(count).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/berth_cri_request_duration_seconds_bucket\{method="runtime\.v1\.RuntimeService\/Version",le="0\.005"\} \d+/);
    expect(text).toContain('berth_cri_request_duration_seconds_bucket{method="runtime.v1.RuntimeService/Version",le="+Inf"} ' + count);
    expect(text).toContain('berth_cri_request_duration_seconds_count{method="runtime.v1.RuntimeService/Version"} ' + count);
    for (const family of ['berth_image_pulls_total', 'berth_image_pull_bytes_total', 'berth_image_pull_duration_seconds', 'berth_image_pull_failures_total', 'berth_image_gc_runs_total', 'berth_shims']) {
      expect(text).toContain(`# TYPE ${family} `);
    }
    expect(text).toContain('berth_containers{state="running"} 0');
    // No container yet: no shim connection (the spare shim serves none).
    expect(text).toMatch(/^berth_shims 0$/m);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
  });

  it('SIGHUP applies a new log level and registry config_path, and names settings that need a restart', async () => {
    await daemon.runtime.Version({});
    expect(logLines(daemon).some((line) => line.msg === 'rpc ok')).toBe(false);
    const certs = join(daemon.dir, 'other-certs.d');
    await editConfig((config) => {
      config['log'].level = 'debug';
      config['cri'].registry.config_path = certs;
      config['cri'].cgroup_driver = 'systemd';
    });
    const outcome = await reload();
    expect(outcome.msg).toBe('config reloaded');
    expect(outcome['applied']).toEqual(['cri.registry.config_path', 'log.level']);
    const warn = logLines(daemon).find((line) => line.level === WARN && /take effect only after a restart/.test(line.msg));
    expect(warn?.msg).toContain('cri.cgroup_driver');
    await notify.waitFor((m) => m === 'RELOADING=1');

    const seen = logLines(daemon).length;
    await daemon.runtime.Version({});
    await waitForLog(daemon, (line) => line.msg === 'rpc ok' && line['rpc'] === 'runtime.v1.RuntimeService/Version', seen);
    const { info } = await daemon.runtime.Status({ verbose: true });
    const running = JSON.parse(info['config'] ?? '{}');
    expect(running.cri.registry.config_path).toBe(certs);
    expect(running.cri.cgroup_driver).toBe('cgroupfs');
    expect(await scrape()).toContain('berth_config_reloads_total{result="ok"} 1');
  });

  it('pulls through a hosts.toml in the reloaded config_path, and the pull metrics count it', async () => {
    // Only the config_path the reload above installed knows this registry name.
    const hostDir = join(daemon.dir, 'other-certs.d', 'reloaded.example.test');
    await mkdir(hostDir, { recursive: true });
    await writeFile(join(hostDir, 'hosts.toml'), `server = "${registry.url}"\n`);
    const { image_ref } = await daemon.image.PullImage({ image: { image: 'reloaded.example.test/library/busybox:1' } });
    expect(image_ref).toBe(busybox.config.digest);
    const text = await scrape();
    expect(text).toContain('\nberth_image_pulls_total 1\n');
    const downloaded = busybox.manifest.size + busybox.config.size + busybox.layers.reduce((n, l) => n + l.size, 0);
    expect(text).toContain(`\nberth_image_pull_bytes_total ${downloaded}\n`);
    expect(text).toContain('berth_image_pull_duration_seconds_count 1');
  });

  it('SIGHUP with an invalid config keeps the old one and keeps serving', async () => {
    const good = await readFile(daemon.configPath, 'utf8');
    await writeFile(daemon.configPath, `${good}\n[cri]\nmax_concurrent_downloads = "many"\n`);
    try {
      const outcome = await reload();
      expect(outcome.level).toBe(ERROR);
      expect(outcome.msg).toMatch(/^config reload refused, berthd keeps running on the previous config: .*config\.toml: /);
    } finally {
      await writeFile(daemon.configPath, good);
    }
    await daemon.runtime.Version({});
    const { info } = await daemon.runtime.Status({ verbose: true });
    expect(JSON.parse(info['config'] ?? '{}').log.level).toBe('debug');
    expect(await scrape()).toContain('berth_config_reloads_total{result="error"} 1');
  });

  it('SIGHUP moves the metrics endpoint to a new address', async () => {
    const port = await freePort();
    await editConfig((config) => {
      config['metrics'].address = `127.0.0.1:${port}`;
    });
    expect((await reload()).msg).toBe('config reloaded');
    expect(await scrape(port)).toContain('# TYPE berth_cri_requests_total counter');
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
    metricsPort = port;
  });
});

describe('berthd with its default runtime missing', () => {
  let daemon: BerthdHandle;
  beforeAll(async () => {
    daemon = await startBerthd({ config: { cri: { default_runtime: 'gone', runtimes: { gone: { path: 'berth-no-such-runtime', args: [] } } } } });
  });
  afterAll(() => daemon?.cleanup());

  it('reports RuntimeReady=false with what to install or configure', async () => {
    const { status } = await daemon.runtime.Status({ verbose: false });
    const runtime = status?.conditions.find((c) => c.type === 'RuntimeReady');
    expect(runtime).toMatchObject({ status: false, reason: 'RuntimePreflightFailed' });
    expect(runtime?.message).toBe(
      'OCI runtime of handler "gone": "berth-no-such-runtime" is not found in PATH; install it or set [cri.runtimes.gone] path in berth\'s config to its absolute path',
    );
  });
});
