import { randomBytes } from 'node:crypto';
import { BerthError } from '../errors/errors.js';

export interface TokenStoreOptions {
  /** How long a token stays valid, ms (one minute, as kubelet's own streaming server). */
  ttlMs: number;
  /** Tokens handed out and not yet used or expired; one more is refused (ResourceExhausted). */
  maxPending: number;
  /** Milliseconds, monotonic; injected by tests. */
  now?: () => number;
}

/**
 * Single-use random tokens for streaming URLs: the Exec/Attach/PortForward RPC stores its validated request
 * and puts the token in the URL; the HTTP request that presents it takes the request out. A token is gone once
 * taken or expired, so a URL cannot be replayed. 24 random bytes: unguessable, not an identifier.
 */
export class TokenStore<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();
  private readonly now: () => number;

  constructor(private readonly options: TokenStoreOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  put(value: T): string {
    this.sweep();
    if (this.entries.size >= this.options.maxPending) {
      throw new BerthError(
        'ResourceExhausted',
        `${this.entries.size} streaming requests are waiting for their client to connect; retry in a minute, when unused ones have expired`,
      );
    }
    const token = randomBytes(24).toString('base64url');
    this.entries.set(token, { value, expiresAt: this.now() + this.options.ttlMs });
    return token;
  }

  /** The value of a valid token, which is then used up; undefined for unknown, used or expired tokens. */
  take(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    return entry.expiresAt > this.now() ? entry.value : undefined;
  }

  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(token);
  }
}
