import type { LayerEntry } from './image-builder.js';

/** xorshift128: fast, deterministic across machines and Node versions; not for anything but test data. */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix-style scrambling so that nearby seeds give unrelated streams.
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0 || 1;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  nextUint32(): number {
    const t = this.s0 ^ (this.s0 << 11);
    this.s0 = this.s1;
    this.s1 = this.s2;
    this.s2 = this.s3;
    this.s3 = (this.s3 ^ (this.s3 >>> 19) ^ t ^ (t >>> 8)) >>> 0;
    return this.s3;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + (this.nextUint32() % (max - min + 1));
  }

  /** n bytes that gzip cannot shrink. */
  bytes(n: number): Buffer {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.nextUint32();
    return Buffer.from(words.buffer, 0, n);
  }

  /** About n bytes of text from a small vocabulary: compresses several times over, like logs or source. */
  text(n: number): Buffer {
    const words = ['container', 'runtime', 'layer', 'snapshot', 'kubelet', 'sandbox', 'image', 'manifest',
      'digest', 'overlay', 'mount', 'cgroup', 'namespace', 'network', 'config', 'status', '0', '1', '42', 'true'];
    const parts: string[] = [];
    let size = 0;
    while (size < n) {
      const line = `${words[this.int(0, words.length - 1)]}_${this.int(0, 999)} = ` +
        `${words[this.int(0, words.length - 1)]} ${words[this.int(0, words.length - 1)]}\n`;
      parts.push(line);
      size += line.length;
    }
    return Buffer.from(parts.join('').slice(0, n));
  }
}

export interface SeededLayerShape {
  /** Bytes of incompressible data, split over files of 64 KiB to 2 MiB. */
  randomBytes: number;
  /** Bytes of compressible text, split over files of 4 KiB to 512 KiB. */
  textBytes: number;
  /** Additional small files (100 B to 8 KiB of text), where per-file costs dominate. */
  smallFiles: number;
}

/**
 * The entries of one synthetic layer, generated lazily from seed. Layers with different seeds write different
 * paths, so stacking them only adds files.
 */
export function* seededLayerEntries(seed: number, shape: SeededLayerShape): Generator<LayerEntry> {
  const rnd = new SeededRandom(seed);
  const root = `data/layer-${seed}`;
  yield { type: 'directory', path: 'data' };
  yield { type: 'directory', path: root };
  for (const sub of ['bin', 'share', 'etc']) yield { type: 'directory', path: `${root}/${sub}` };
  let left = shape.randomBytes;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, rnd.int(64 * 1024, 2 * 1024 * 1024));
    left -= size;
    yield { type: 'file', path: `${root}/bin/blob-${i}`, data: rnd.bytes(size), mode: 0o755 };
  }
  left = shape.textBytes;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, rnd.int(4 * 1024, 512 * 1024));
    left -= size;
    yield { type: 'file', path: `${root}/share/doc-${i}.txt`, data: rnd.text(size) };
  }
  for (let i = 0; i < shape.smallFiles; i++) {
    yield { type: 'file', path: `${root}/etc/conf-${i}`, data: rnd.text(rnd.int(100, 8 * 1024)) };
  }
}
