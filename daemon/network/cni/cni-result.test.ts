import { describe, expect, it } from 'vitest';
import { podNetworkResult, resultProblem } from './cni-result.js';

describe('podNetworkResult', () => {
  it('reads a 1.0.0 bridge result: sandbox addresses only, without prefix length', () => {
    const result = {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cni0', mac: 'aa:aa:aa:aa:aa:aa' },
        { name: 'veth1234', mac: 'bb:bb:bb:bb:bb:bb' },
        { name: 'eth0', mac: 'cc:cc:cc:cc:cc:cc', sandbox: '/run/berth/netns/p' },
      ],
      ips: [{ address: '10.250.0.5/24', gateway: '10.250.0.1', interface: 2 }],
    };
    expect(podNetworkResult(result)).toEqual({
      ips: ['10.250.0.5'],
      addresses: [{ address: '10.250.0.5/24', gateway: '10.250.0.1', interface: 'eth0' }],
      interfaces: [
        { name: 'cni0', mac: 'aa:aa:aa:aa:aa:aa' },
        { name: 'veth1234', mac: 'bb:bb:bb:bb:bb:bb' },
        { name: 'eth0', mac: 'cc:cc:cc:cc:cc:cc', sandbox: '/run/berth/netns/p' },
      ],
    });
  });

  it('reads a 0.3.1 dual-stack result (with "version"), IPv4 first, and addresses without an interface', () => {
    const result = {
      cniVersion: '0.3.1',
      interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/x' }],
      ips: [
        { version: '6', address: 'fd00::5/64', interface: 1 },
        { version: '4', address: '10.0.0.5/24', gateway: '10.0.0.1' },
        { version: '4', address: '192.168.9.1/24', interface: 0 },
      ],
    };
    expect(podNetworkResult(result).ips).toEqual(['10.0.0.5', 'fd00::5']);
  });

  it('an empty result has no addresses', () => {
    expect(podNetworkResult({ cniVersion: '1.0.0' })).toEqual({ ips: [], addresses: [], interfaces: [] });
  });
});

describe('resultProblem', () => {
  it('accepts results and names what is malformed', () => {
    expect(resultProblem({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/24' }] })).toBeUndefined();
    expect(resultProblem('x')).toBe('the result is not a JSON object');
    expect(resultProblem({ ips: [{ gateway: '1.1.1.1' }] })).toBe('"ips" must be a list of objects with an "address"');
    expect(resultProblem({ interfaces: {} })).toBe('"interfaces" must be a list of objects with a "name"');
  });
});
