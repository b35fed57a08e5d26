/**
 * Hands a shim's garbage back once the shim goes quiet.
 *
 * The shim runs node without V8 flags: any flag makes node reject its built-in code cache, which costs every
 * shim 10–14 ms of CPU at start (docs/ARCHITECTURE.md, "Footprint"). Without flags, V8 lets a shim that relayed a
 * burst of logs or an exec result keep it all: its young generation stays grown and the buffers it read stay
 * allocated, because in a heap this small no full collection ever runs, and V8's memory reducer (which shrinks
 * the young generation later, when allocation is slow) only starts after one. So when a shim has been idle for
 * a while and its heap has grown by more than a slack since the last look, one full collection is run; the
 * memory reducer does the rest.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { trimMalloc } from './libc.js';

export interface HeapTrimOptions {
  /** Quiet time after the last activity before the heap is looked at. */
  idleMs: number;
  /** Growth over the size after the last collection (or at start) that is worth a collection. */
  slackBytes: number;
  /** The heap's size, including memory held outside it by its buffers. */
  heapBytes: () => number;
  /** Runs a full collection. */
  collect: () => void;
}

export class HeapTrimmer {
  private timer: NodeJS.Timeout | null = null;
  private active = false;
  private floor: number;

  constructor(private readonly o: HeapTrimOptions) {
    this.floor = o.heapBytes();
  }

  /** Something happened (a request, a chunk of output): cheap enough to call for every chunk. */
  touch(): void {
    this.active = true;
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.check(), this.o.idleMs);
    // Never the reason the shim stays up.
    this.timer.unref();
  }

  private check(): void {
    if (this.active) {
      // Still busy: look again one quiet period later; one timer, re-armed, not one per touch.
      this.active = false;
      this.timer?.refresh();
      return;
    }
    this.timer = null;
    if (this.o.heapBytes() < this.floor + this.o.slackBytes) return;
    this.o.collect();
    this.floor = this.o.heapBytes();
  }
}

export function heapBytes(): number {
  const s = v8.getHeapStatistics();
  return s.total_heap_size + s.external_memory;
}

let gc: (() => void) | null = null;

/**
 * A full collection. `--expose-gc` on the command line would be a V8 flag like any other (and cost the code
 * cache), so it is set only now, on the first collection, when the modules the shim needs are long compiled; the
 * function appears in contexts made after that.
 */
export function collectGarbage(): void {
  if (gc === null) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}

/**
 * What the shim uses: a look 5 s after it went quiet; a collection when it holds 1 MiB more than before, then
 * malloc's free memory back to the kernel (the buffers the collection freed, and V8's helper threads' arenas).
 */
export function shimHeapTrimmer(): HeapTrimmer {
  const collect = (): void => {
    collectGarbage();
    trimMalloc();
  };
  return new HeapTrimmer({ idleMs: 5_000, slackBytes: 1024 * 1024, heapBytes, collect });
}
