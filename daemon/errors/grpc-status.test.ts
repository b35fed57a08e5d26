import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { BerthError, notFound } from './errors.js';
import { toGrpcFailure } from './grpc-status.js';

describe('toGrpcFailure', () => {
  it('keeps the kind and message of a BerthError', () => {
    expect(toGrpcFailure(notFound('container "abc" not found'))).toEqual({
      code: status.NOT_FOUND,
      details: 'container "abc" not found',
      internal: false,
    });
    expect(toGrpcFailure(new BerthError('AlreadyExists', 'x')).code).toBe(status.ALREADY_EXISTS);
    expect(toGrpcFailure(new BerthError('FailedPrecondition', 'x')).code).toBe(status.FAILED_PRECONDITION);
  });

  it('marks Internal and DataLoss as berth\'s fault', () => {
    expect(toGrpcFailure(new BerthError('Internal', 'x')).internal).toBe(true);
    expect(toGrpcFailure(new BerthError('DataLoss', 'x'))).toMatchObject({ code: status.DATA_LOSS, internal: true });
  });

  it('turns anything else into INTERNAL with its message', () => {
    expect(toGrpcFailure(new TypeError('x is undefined'))).toEqual({
      code: status.INTERNAL,
      details: 'internal error: x is undefined',
      internal: true,
    });
    expect(toGrpcFailure('thrown string').details).toBe('internal error: thrown string');
  });
});
