/**
 * One TCP connection attempt to an instance's address, for boot verification: open when the
 * handshake completes (the connection is closed at once, nothing is sent), else why not, in words.
 */
import { connect } from 'net';

export type PortProbe = { open: true } | { open: false; reason: string };

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
};

export function probePort(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<PortProbe> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const socket = connect({ host, port });
    const finish = (result: PortProbe | { error: unknown }) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      socket.destroy();
      if ('error' in result) reject(result.error);
      else resolve(result);
    };
    const timer = setTimeout(
      () => finish({ open: false, reason: `no answer within ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
    const aborted = () => finish({ error: signal?.reason });
    signal?.addEventListener('abort', aborted, { once: true });
    socket.once('connect', () => finish({ open: true }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish({ open: false, reason: REASONS[error.code ?? ''] ?? error.code ?? error.message }),
    );
  });
}
