import { chmod, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containerConfig, podConfig, runContainer, usePodTestBed } from '../fixtures/pods.js';
import { inNetns } from '../harness/network.js';
import { makeTestDir } from '../harness/berthd.js';

const SYSTEM_CNI_BIN = '/usr/lib/cni';

/**
 * A pod's lo through berthd's socket: up, with 127.0.0.1 answering inside the pod, and no `loopback` CNI plugin
 * executed for it. The daemon's only bin dir has the system plugins plus a `loopback` that records every call
 * before running the real one, so the test would see berth fall back to the plugin.
 */
describe('pod loopback', () => {
  let dir = '';
  let callLog = '';
  // Registered first, so it runs after the test bed has stopped the daemon.
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });
  const bed = usePodTestBed({
    berthd: async () => {
      dir = await makeTestDir();
      const binDir = join(dir, 'cni-bin');
      callLog = join(dir, 'loopback-calls.log');
      await mkdir(binDir);
      for (const name of await readdir(SYSTEM_CNI_BIN)) {
        if (name !== 'loopback') await symlink(join(SYSTEM_CNI_BIN, name), join(binDir, name));
      }
      await writeFile(join(binDir, 'loopback'), `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID" >> ${callLog}\nexec ${SYSTEM_CNI_BIN}/loopback\n`);
      await chmod(join(binDir, 'loopback'), 0o755);
      return { config: { cri: { cni: { bin_dirs: [binDir] } } } };
    },
  });

  it('brings lo up in the pod without running the loopback plugin, at set-up or tear-down', async () => {
    const pod = podConfig('lo');
    const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config: pod, runtime_handler: '' });
    const pin = join(bed.daemon.state, 'netns', id);

    const { stdout: link } = await inNetns(pin, ['ip', '-o', 'link', 'show', 'lo']);
    expect(link).toMatch(/<LOOPBACK,UP,LOWER_UP>/);

    // From inside a container of the pod: 127.0.0.1 answers, over ICMP and TCP.
    const ctr = await runContainer(bed.daemon.runtime, id, pod, containerConfig('lo', bed.busybox.reference, ['nc', '-ll', '-p', '7070', '-e', 'echo', 'pong']));
    const ping = await bed.daemon.runtime.ExecSync({ container_id: ctr, cmd: ['ping', '-c1', '-W2', '127.0.0.1'], timeout: 10 });
    expect(ping.exit_code, ping.stdout.toString() + ping.stderr.toString()).toBe(0);
    const tcp = await bed.daemon.runtime.ExecSync({ container_id: ctr, cmd: ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do nc 127.0.0.1 7070 </dev/null && exit; sleep 0.2; done; exit 1'], timeout: 10 });
    expect(tcp.stdout.toString().trim()).toBe('pong');

    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: id });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
    await expect(readFile(callLog, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
