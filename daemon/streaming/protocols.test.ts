import { describe, expect, it } from 'vitest';
import { headerList, negotiate, remoteCommandVersion, REMOTECOMMAND_SPDY } from './protocols.js';
import { JsonObjectSplitter } from './remote-command.js';

describe('stream protocol negotiation', () => {
  it("takes the client's first choice that the server speaks", () => {
    expect(negotiate(['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io'], REMOTECOMMAND_SPDY)).toBe('v4.channel.k8s.io');
    expect(negotiate(['channel.k8s.io', 'v4.channel.k8s.io'], REMOTECOMMAND_SPDY)).toBe('channel.k8s.io');
    expect(negotiate(['v9.channel.k8s.io'], REMOTECOMMAND_SPDY)).toBeUndefined();
  });

  it('reads repeated and comma-separated headers alike', () => {
    expect(headerList(['v4.channel.k8s.io', 'v3.channel.k8s.io, v2.channel.k8s.io'])).toEqual(['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io']);
    expect(headerList(undefined)).toEqual([]);
  });

  it('knows what each remotecommand version carries', () => {
    expect(remoteCommandVersion('channel.k8s.io')).toEqual({ version: 1, resize: false, jsonStatus: false, closeSignal: false });
    expect(remoteCommandVersion('v3.channel.k8s.io')).toMatchObject({ resize: true, jsonStatus: false });
    expect(remoteCommandVersion('v4.channel.k8s.io')).toMatchObject({ resize: true, jsonStatus: true, closeSignal: false });
    expect(remoteCommandVersion('v5.channel.k8s.io').closeSignal).toBe(true);
  });
});

describe('JsonObjectSplitter', () => {
  it('splits resize messages however the bytes arrive', () => {
    const s = new JsonObjectSplitter();
    expect(s.push(Buffer.from('{"Width":80,"Height":24}\n{"Wid'))).toEqual(['{"Width":80,"Height":24}']);
    expect(s.push(Buffer.from('th":100,"Height":40}{"Width":1,"Height":2}'))).toEqual(['{"Width":100,"Height":40}', '{"Width":1,"Height":2}']);
  });

  it('ignores braces inside strings and drops an object that never ends', () => {
    const s = new JsonObjectSplitter();
    expect(s.push(Buffer.from('{"a":"}{\\"","b":1}'))).toEqual(['{"a":"}{\\"","b":1}']);
    expect(s.push(Buffer.from(`{"x":"${'y'.repeat(5000)}`))).toEqual([]);
    expect(s.push(Buffer.from('{"Width":3,"Height":4}'))).toEqual(['{"Width":3,"Height":4}']);
  });
});
