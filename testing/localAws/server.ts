/**
 * The HTTP front: one server for every service. It records each request, applies injected faults,
 * checks the signature and hands the request to the S3, EC2 or EBS direct API handlers. The service
 * is the one the SigV4 credential scope names.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo } from 'net';
import { randomBytes, randomUUID } from 'crypto';
import { AwsError } from './errors';
import { EbsRoute, ebsThrottle, handleEbs, renderEbsError, routeEbs } from './ebs';
import { handleEc2, renderEc2Error } from './ec2';
import { FaultInjector } from './faults';
import { handleS3, HttpAnswer, renderS3Error, routeS3, S3Route } from './s3';
import { scopeService, SigningKey, verifySignature } from './sigv4';
import { handleSts, renderStsError } from './sts';
import { LocalAwsState } from './state';
import { RecordedRequest, ServiceName } from './types';

export interface ServerParts {
  state: LocalAwsState;
  faults: FaultInjector;
  requests: RecordedRequest[];
  secrets: ReadonlyMap<string, string>;
}

function flattenHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function parseQuery(raw: string): { flat: Record<string, string>; forSigning: Record<string, string | string[]> } {
  const flat: Record<string, string> = {};
  const forSigning: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(raw)) {
    flat[name] = value;
    const earlier = forSigning[name];
    forSigning[name] = earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value];
  }
  return { flat, forSigning };
}

function classify(
  method: string,
  path: string,
  query: Record<string, string>,
  headers: Record<string, string>,
): ServiceName {
  const scoped = scopeService(headers.authorization);
  if (scoped !== undefined) return scoped === 'ec2' || scoped === 'ebs' || scoped === 'sts' ? scoped : 's3';
  if (path !== '/') return 's3';
  const form = (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  return (method === 'POST' && form) || query.Action !== undefined ? 'ec2' : 's3';
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Reads about `limit` bytes of the body, then drops the connection without answering. */
function readThenReset(request: IncomingMessage, limit: number): Promise<number> {
  return new Promise((resolve) => {
    let received = 0;
    let done = false;
    const reset = () => {
      if (done) return;
      done = true;
      request.socket.destroy();
      resolve(received);
    };
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= limit) reset();
    });
    request.on('end', reset);
    request.on('error', reset);
    if (limit <= 0) reset();
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function throttleError(service: ServiceName): AwsError {
  if (service === 'ebs') return ebsThrottle();
  return service === 'ec2'
    ? new AwsError(400, 'RequestLimitExceeded', 'Request limit exceeded.')
    : new AwsError(503, 'SlowDown', 'Please reduce your request rate.');
}

export class LocalAwsServer {
  private readonly server: Server;

  constructor(private readonly parts: ServerParts) {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent && !response.destroyed) {
          response.writeHead(500, { 'content-type': 'text/plain' });
          response.end(`local AWS failure: ${error instanceof Error ? error.stack : String(error)}`);
        }
      });
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /**
   * Records the request, then reads its body; undefined when a reset fault dropped the connection
   * part-way through the body (REST bodies can only be cut once the route is known).
   */
  private async recordAndRead(request: IncomingMessage, record: RecordedRequest): Promise<Buffer | undefined> {
    this.parts.requests.push(record);
    const reset = this.parts.faults.takeReset(record);
    if (!reset) return readBody(request);
    const length = Number(record.headers['content-length'] ?? 0);
    record.bodyBytes = await readThenReset(request, reset.afterBytes ?? Math.max(1, Math.floor(length / 2)));
    record.errorCode = 'ConnectionReset';
    return undefined;
  }

  /** A long-term key of the account, or temporary credentials STS issued. */
  private signingKey(accessKeyId: string): SigningKey | undefined {
    const secret = this.parts.secrets.get(accessKeyId);
    if (secret !== undefined) return { secretAccessKey: secret };
    return this.parts.state.sessions.get(accessKeyId);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { state, faults, requests } = this.parts;
    const method = request.method ?? 'GET';
    const url = request.url ?? '/';
    const questionMark = url.indexOf('?');
    const path = questionMark < 0 ? url : url.slice(0, questionMark);
    const query = parseQuery(questionMark < 0 ? '' : url.slice(questionMark + 1));
    const headers = flattenHeaders(request);
    const service = classify(method, path, query.flat, headers);
    const record: RecordedRequest = {
      service,
      operation: 'Unknown',
      method,
      path,
      query: query.flat,
      params: {},
      headers,
      bodyBytes: 0,
      status: 0,
      requestId: service === 's3' ? randomBytes(8).toString('hex').toUpperCase() : randomUUID(),
      time: new Date(),
    };

    let route: S3Route | undefined;
    let ebsRoute: EbsRoute | undefined;
    let routeError: AwsError | undefined;
    let body: Buffer;
    const arrivalChangeCount = state.changeCount;
    if (service === 'ebs') {
      ebsRoute = routeEbs(method, path);
      record.operation = ebsRoute.operation;
      if (ebsRoute.snapshotId !== undefined) record.params.SnapshotId = ebsRoute.snapshotId;
      if (ebsRoute.blockIndex !== undefined) record.params.BlockIndex = ebsRoute.blockIndex;
      const received = await this.recordAndRead(request, record);
      if (received === undefined) return;
      body = received;
    } else if (service === 's3') {
      try {
        route = routeS3(method, path, query.flat, headers);
        Object.assign(record, route);
      } catch {
        routeError = new AwsError(400, 'InvalidURI', "Couldn't parse the specified URI.");
      }
      const received = await this.recordAndRead(request, record);
      if (received === undefined) return;
      body = received;
    } else {
      body = await readBody(request);
      const form = (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
        ? parseQuery(body.toString('utf8')).flat
        : {};
      record.params = { ...query.flat, ...form };
      record.operation = record.params.Action ?? 'Unknown';
      requests.push(record);
      if (faults.takeReset(record)) {
        record.bodyBytes = body.length;
        record.errorCode = 'ConnectionReset';
        request.socket.destroy();
        return;
      }
    }
    record.bodyBytes = body.length;

    let answer: HttpAnswer;
    try {
      const delay = faults.takeLatency(record);
      if (delay.ms > 0) await sleep(delay.ms);
      if (delay.until.length > 0) await Promise.allSettled(delay.until);
      const injected = faults.takeAnswer(record);
      if (injected?.kind === 'throttle') throw throttleError(service);
      if (injected?.kind === 'status')
        throw new AwsError(injected.status, injected.code, injected.message ?? `Injected ${injected.code}`);
      if (routeError) throw routeError;
      const signature = await verifySignature(
        service,
        { method, path, query: query.forSigning, headers, body },
        (accessKeyId) => this.signingKey(accessKeyId),
        new Date(state.now()),
      );
      record.accessKeyId = signature.accessKeyId;
      if (service === 'sts') {
        const caller =
          state.sessions.get(signature.accessKeyId)?.assumedRoleArn ??
          `arn:aws:iam::${state.config.accountId}:user/local`;
        answer = {
          status: 200,
          headers: { 'content-type': 'text/xml' },
          body: handleSts(state, record.params, caller),
        };
      } else if (service === 'ec2') {
        if (signature.region !== state.config.region) {
          throw new AwsError(
            401,
            'AuthFailure',
            `Credential should be scoped to a valid region, not '${signature.region}'. This endpoint serves '${state.config.region}'.`,
          );
        }
        answer = {
          status: 200,
          headers: { 'content-type': 'text/xml;charset=UTF-8' },
          body: handleEc2({ state, params: record.params, request: record, faults }),
        };
      } else if (service === 'ebs') {
        if (signature.region !== state.config.region) {
          throw new AwsError(
            403,
            'InvalidSignatureException',
            `Credential should be scoped to a valid region, not '${signature.region}'. This endpoint serves '${state.config.region}'.`,
          );
        }
        answer = handleEbs({
          state,
          faults,
          record,
          route: ebsRoute ?? { operation: 'Unknown' },
          headers,
          body,
          query: query.flat,
        });
      } else {
        answer = handleS3(state, {
          ...(route ?? { operation: 'Unknown' }),
          method,
          query: query.flat,
          headers,
          body,
          signingRegion: signature.region,
          arrivalChangeCount,
        });
      }
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      record.errorCode = error.code;
      answer =
        service === 'sts'
          ? {
              status: error.status,
              headers: { 'content-type': 'text/xml' },
              body: renderStsError(error, record.requestId),
            }
          : service === 'ec2'
            ? {
                status: error.status,
                headers: { 'content-type': 'text/xml;charset=UTF-8', ...error.headers },
                body: renderEc2Error(error, record.requestId),
              }
            : service === 'ebs'
              ? renderEbsError(error)
              : renderS3Error(error, record.requestId, method === 'HEAD');
    }
    this.send(response, record, answer);
  }

  private send(response: ServerResponse, record: RecordedRequest, answer: HttpAnswer): void {
    record.status = answer.status;
    if (response.destroyed) return;
    if (answer.status < 300 && this.parts.faults.takeAnswerLost(record)) {
      record.errorCode = 'ConnectionReset';
      response.socket?.destroy();
      return;
    }
    const headers: Record<string, string> = { ...answer.headers };
    if (record.service === 'ec2' || record.service === 'ebs' || record.service === 'sts') {
      headers['x-amzn-requestid'] = record.requestId;
    } else {
      headers['x-amz-request-id'] = record.requestId;
      headers['x-amz-id-2'] = Buffer.from(record.requestId).toString('base64');
      headers.server = 'AmazonS3';
    }
    const body =
      answer.body === undefined
        ? undefined
        : Buffer.isBuffer(answer.body)
          ? answer.body
          : Buffer.from(answer.body, 'utf8');
    if (body !== undefined) headers['content-length'] = String(body.length);
    else if (headers['content-length'] === undefined) headers['content-length'] = '0';
    response.writeHead(answer.status, headers);
    response.end(body);
  }
}
