/**
 * A minimal client of the NBD protocol (github.com/NetworkBlockDevice/nbd, doc/proto.md), enough to
 * read a disk that `qemu-nbd` serves over a unix socket: the fixed-newstyle handshake with
 * NBD_OPT_EXPORT_NAME for the default export (""), then NBD_CMD_READ with simple replies, one request
 * at a time, and NBD_CMD_DISC to leave. Written here because the one npm client
 * (`@vates/nbd-client`) comes with Xen Orchestra's stack (xen-api and others) for a few hundred
 * lines of protocol. Every failure names the disk and, for a read, its offset and length.
 */
import * as net from 'net';

const INIT_MAGIC = Buffer.from('NBDMAGIC', 'latin1');
const OPTION_MAGIC = Buffer.from('IHAVEOPT', 'latin1');
const FLAG_FIXED_NEWSTYLE = 1 << 0;
const FLAG_NO_ZEROES = 1 << 1;
const OPT_EXPORT_NAME = 1;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;
const CMD_READ = 0;
const CMD_DISC = 2;
/** The largest request a server must accept when no block size was negotiated. */
export const NBD_MAX_REQUEST = 32 * 1024 * 1024;

/** A failure of the NBD connection, named after the disk it serves. */
export class NbdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NbdError';
  }
}

/** The bytes a socket delivers, taken in exact amounts; fails once the socket closes or errs. */
class Incoming {
  private chunks: Buffer[] = [];
  private available = 0;
  private waiting?: { bytes: number; resolve: (data: Buffer) => void; reject: (error: Error) => void };
  private failure?: Error;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.available += chunk.length;
      this.deliver();
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the server closed the connection')));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(this.failure);
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (!waiting || this.available < waiting.bytes) return;
    this.waiting = undefined;
    const data = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = data.length > waiting.bytes ? [data.subarray(waiting.bytes)] : [];
    this.available -= waiting.bytes;
    waiting.resolve(data.subarray(0, waiting.bytes));
  }

  take(bytes: number): Promise<Buffer> {
    if (this.available >= bytes || this.failure === undefined)
      return new Promise((resolve, reject) => {
        this.waiting = { bytes, resolve, reject };
        this.deliver();
      });
    return Promise.reject(this.failure);
  }
}

export class NbdClient {
  private cookie = 0n;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly incoming: Incoming,
    /** The disk served, as messages name it (the file given). */
    private readonly disk: string,
    /** Bytes of the export. */
    readonly size: number,
  ) {}

  /** Connects to a server listening on `socketPath` and negotiates its default export. */
  static async connect(socketPath: string, disk: string): Promise<NbdClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const connection = net.connect(socketPath);
      connection.once('connect', () => {
        connection.removeListener('error', reject);
        resolve(connection);
      });
      connection.once('error', reject);
    });
    const incoming = new Incoming(socket);
    try {
      const greeting = await incoming.take(18);
      if (!greeting.subarray(0, 8).equals(INIT_MAGIC) || !greeting.subarray(8, 16).equals(OPTION_MAGIC))
        throw new Error('the server does not speak the newstyle NBD protocol');
      const serverFlags = greeting.readUInt16BE(16);
      if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new Error('the server does not offer fixed newstyle');
      const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
      const hello = Buffer.alloc(4 + 16);
      hello.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0), 0);
      OPTION_MAGIC.copy(hello, 4);
      hello.writeUInt32BE(OPT_EXPORT_NAME, 12);
      hello.writeUInt32BE(0, 16); // the default export: an empty name
      socket.write(hello);
      const exported = await incoming.take(10 + (noZeroes ? 0 : 124));
      const size = exported.readBigUInt64BE(0);
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`the export's size ${size} is too large`);
      return new NbdClient(socket, incoming, disk, Number(size));
    } catch (error) {
      socket.destroy();
      throw new NbdError(`${disk}: the NBD handshake with qemu-nbd failed: ${messageOf(error)}`);
    }
  }

  /**
   * Reads `length` bytes at `position` of the disk into `buffer` (from its start); false when the
   * disk ends first, as a file's read would. Requests are sent one at a time.
   */
  read(buffer: Buffer, length: number, position: number): Promise<boolean> {
    if (position + length > this.size) return Promise.resolve(false);
    const done = this.queue.then(() => this.readNow(buffer, length, position));
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async readNow(buffer: Buffer, length: number, position: number): Promise<boolean> {
    for (let done = 0; done < length;) {
      const part = Math.min(NBD_MAX_REQUEST, length - done);
      const offset = position + done;
      try {
        if (this.closed) throw new Error('the connection is closed');
        const cookie = ++this.cookie;
        this.socket.write(request(CMD_READ, cookie, offset, part));
        const reply = await this.incoming.take(16);
        if (reply.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC) throw new Error('the reply has no simple-reply magic');
        const error = reply.readUInt32BE(4);
        if (reply.readBigUInt64BE(8) !== cookie) throw new Error('the reply answers another request');
        if (error !== 0) throw new Error(`the server answered error ${error}`);
        (await this.incoming.take(part)).copy(buffer, done);
      } catch (error) {
        this.socket.destroy();
        this.closed = true;
        throw new NbdError(
          `${this.disk}: reading ${part} bytes at offset ${offset} through qemu-nbd failed: ${messageOf(error)}`,
        );
      }
      done += part;
    }
    return true;
  }

  /** Says goodbye (NBD_CMD_DISC) once the reads in flight are done, and closes the connection. */
  async close(): Promise<void> {
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end(request(CMD_DISC, ++this.cookie, 0, 0));
      // A server that does not close its side within a second is cut off.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }
}

function request(type: number, cookie: bigint, offset: number, length: number): Buffer {
  const data = Buffer.alloc(28);
  data.writeUInt32BE(REQUEST_MAGIC, 0);
  data.writeUInt16BE(0, 4);
  data.writeUInt16BE(type, 6);
  data.writeBigUInt64BE(cookie, 8);
  data.writeBigUInt64BE(BigInt(offset), 16);
  data.writeUInt32BE(length, 24);
  return data;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
