import { addressToString } from 'rx-tcp';
import { unmapIPv4 } from '../src/address';

describe('addressToString', () => {
  it('prints IPv4, IPv6 in brackets, and Unix paths', () => {
    expect(addressToString({ family: 'inet', host: '127.0.0.1', port: 80 })).toBe('127.0.0.1:80');
    expect(addressToString({ family: 'inet', host: '::1', port: 80 })).toBe('[::1]:80');
    expect(addressToString({ family: 'unix', path: '/tmp/x.sock' })).toBe('/tmp/x.sock');
  });

  it('reports IPv4-mapped IPv6 addresses as IPv4', () => {
    expect(unmapIPv4('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(unmapIPv4('::ffff:abcd')).toBe('::ffff:abcd');
    expect(unmapIPv4('::1')).toBe('::1');
  });
});
