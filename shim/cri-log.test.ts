import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CriStreamEncoder, EntryBuffer, MAX_ENTRY_BYTES } from './cri-log.js';

const TS = '2026-11-23T09:00:00.000000001Z';

/** Runs `steps` against an encoder and returns everything written, as text. */
function encodeAll(steps: (e: CriStreamEncoder, out: EntryBuffer) => void): string {
  const parts: Buffer[] = [];
  const out = new EntryBuffer((d) => parts.push(Buffer.from(d)));
  steps(new CriStreamEncoder('stdout'), out);
  out.drain();
  return Buffer.concat(parts).toString();
}

/** Splits encoded output into entries and checks each line's framing. */
function parse(out: string): Array<{ tag: string; text: string }> {
  return out.split('\n').slice(0, -1).map((l) => {
    const m = /^(\S+) stdout ([PF]) (.*)$/s.exec(l);
    if (m === null) throw new Error(`bad entry ${l.slice(0, 60)}`);
    expect(m[1]).toBe(TS);
    return { tag: m[2] ?? '', text: m[3] ?? '' };
  });
}

describe('CriStreamEncoder', () => {
  it('splits a 40 KiB line into two 16 KiB P entries and an F entry', () => {
    const out = encodeAll((e, o) => e.encode(Buffer.from(`${'a'.repeat(40 * 1024)}\nshort\n`), TS, o));
    expect(parse(out).map((x) => [x.tag, x.text.length])).toEqual([['P', 16384], ['P', 16384], ['F', 8192], ['F', 5]]);
  });

  it('flushes an unterminated last line as F', () => {
    expect(encodeAll((e, o) => e.encode(Buffer.from('no newline'), TS, o))).toBe('');
    const out = encodeAll((e, o) => {
      e.encode(Buffer.from('no newline'), TS, o);
      e.flush(TS, o);
      e.flush(TS, o);
    });
    expect(parse(out)).toEqual([{ tag: 'F', text: 'no newline' }]);
  });

  it('round-trips any text cut into any chunks: P parts joined up to F give back the lines', () => {
    const text = fc.array(fc.oneof(fc.constantFrom('\n', 'x', 'yz'), fc.string({ maxLength: 20 }), fc.constant('q'.repeat(MAX_ENTRY_BYTES - 1))), { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(fc.property(text, fc.array(fc.nat(), { maxLength: 10 }), (s, cutsRaw) => {
      const data = Buffer.from(s);
      const cuts = [...new Set(cutsRaw.map((c) => (data.length === 0 ? 0 : c % data.length)))].sort((a, b) => a - b);
      const out = encodeAll((e, o) => {
        let prev = 0;
        for (const c of [...cuts, data.length]) {
          e.encode(data.subarray(prev, c), TS, o);
          prev = c;
        }
        e.flush(TS, o);
      });
      const entries = parse(out);
      const lines: string[] = [];
      let cur = '';
      for (const en of entries) {
        expect(Buffer.byteLength(en.text)).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
        cur += en.text;
        if (en.tag === 'F') {
          lines.push(cur);
          cur = '';
        }
      }
      expect(cur).toBe('');
      const expected = s.split('\n');
      if (expected.at(-1) === '') expected.pop();
      expect(lines).toEqual(expected);
    }), { numRuns: 300 });
  });
});
