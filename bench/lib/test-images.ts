import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { assembleImage, writeLayer, type BuiltImage, type LayerEntry } from './image-builder.js';

/** The applets the bench containers use, as links to the one static busybox binary. */
const APPLETS = ['sh', 'sleep', 'ls', 'cat', 'echo', 'true', 'ps', 'kill'];

/**
 * A minimal root filesystem from the host's busybox-static (Debian package busybox-static): one binary, its
 * applet links, and the directories a container runtime expects to mount over.
 */
async function busyboxEntries(busybox: string): Promise<LayerEntry[]> {
  const dirs = ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'var', 'run'];
  return [
    ...dirs.map((path): LayerEntry => ({ type: 'directory', path, mode: path === 'tmp' ? 0o1777 : 0o755 })),
    { type: 'file', path: 'bin/busybox', data: await readFile(busybox), mode: 0o755 },
    ...APPLETS.map((a): LayerEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { type: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\n') },
  ];
}

export interface BenchImages {
  busybox: BuiltImage;
  /**
   * The sandbox ("pause") image: the same layer, with a shell that sleeps until SIGTERM and then exits 0, which is
   * the pause contract that matters to a runtime (both runtimes get the same image, so neither gains from it).
   */
  pause: BuiltImage;
}

export async function buildBenchImages(dir: string, busybox = '/bin/busybox'): Promise<BenchImages> {
  const layer = await writeLayer(join(dir, 'busybox.tar.gz'), await busyboxEntries(busybox));
  return {
    busybox: assembleImage([layer], { Cmd: ['sh'] }),
    pause: assembleImage([layer], {
      Entrypoint: ['/bin/sh', '-c', "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"],
    }),
  };
}
