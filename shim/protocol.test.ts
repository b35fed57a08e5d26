import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameReader, parseRequest } from './protocol.js';

describe('FrameReader', () => {
  it('reassembles frames split anywhere, including inside a multi-byte character', () => {
    const wire = Buffer.from(encodeFrame({ id: 1, method: 'state', params: {} }) + encodeFrame({ event: 'exit', data: { id: 'é✓' } }));
    const r = new FrameReader();
    const got: unknown[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...r.push(wire.subarray(i, i + 1)));
    expect(got).toEqual([{ id: 1, method: 'state', params: {} }, { event: 'exit', data: { id: 'é✓' } }]);
  });

  it('refuses a frame over the limit instead of buffering it', () => {
    const r = new FrameReader(16);
    expect(() => r.push(Buffer.from('{"id":1,"method":"state"'))).toThrow(/exceeds 16 bytes/);
  });
});

describe('parseRequest', () => {
  it('accepts a known method with object params and rejects the rest', () => {
    expect(parseRequest({ id: 3, method: 'kill', params: { signal: 'TERM', all: false } })).toEqual({ id: 3, method: 'kill', params: { signal: 'TERM', all: false } });
    expect(parseRequest({ id: 4, method: 'state' })).toEqual({ id: 4, method: 'state', params: {} });
    expect(() => parseRequest({ id: 5, method: 'format' })).toThrow(/unknown method/);
    expect(() => parseRequest({ id: 'x', method: 'state' })).toThrow(/integer "id"/);
    expect(() => parseRequest({ id: 6, method: 'state', params: [] })).toThrow(/must be an object/);
  });
});
