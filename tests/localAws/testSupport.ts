/** Shared by the fake AWS tests: real SDK clients pointed at the fake, and a bundle uploaded to it. */
import { mkdirSync, readFileSync } from 'fs';
import { request as httpRequest } from 'http';
import * as path from 'path';
import { EC2Client, EC2ClientConfig } from '@aws-sdk/client-ec2';
import { PutObjectCommand, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { BundleResult } from '../../provider/bundle/bundle';
import { bundleWithTestKeys } from '../helpers/bundles';
import { temporaryFolder, writeImage } from '../helpers/tools';
import { LocalAws } from '../../testing/localAws';
import { NodeSha256 } from '../../testing/localAws/sigv4';

export function s3For(fake: LocalAws, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({ ...fake.clientConfig(), maxAttempts: 1, ...extra });
}

export function ec2For(fake: LocalAws, extra: Partial<EC2ClientConfig> = {}): EC2Client {
  return new EC2Client({
    endpoint: fake.endpoint,
    region: fake.region,
    credentials: { ...fake.credentials },
    maxAttempts: 1,
    ...extra,
  });
}

/** Waiter timing for the fake's millisecond lifecycles (the SDK defaults poll every 15 s). */
export const FAST_WAITER = { minDelay: 0.02, maxDelay: 0.1, maxWaitTime: 5 };

export interface UploadedBundle {
  result: BundleResult;
  /** ImageLocation for RegisterImage. */
  location: string;
  keys: string[];
}

export interface BundleFixture {
  folder: string;
  cleanup: () => void;
}

/** A 48 KiB image bundled with the test keys into 16 KiB parts, then uploaded with aws-exec-read. */
export async function uploadTestBundle(
  s3: S3Client,
  bucket: string,
  prefix: string,
  options: { name: string; accountId?: string; architecture?: 'x86_64' | 'i386'; acl?: 'aws-exec-read' | 'private' },
): Promise<UploadedBundle & BundleFixture> {
  const { dir, cleanup } = temporaryFolder('fake-aws-bundle');
  const imagePath = path.join(dir, options.name);
  writeImage(imagePath, [{ kind: 'random', bytes: 48 * 1024 }]);
  const destination = path.join(dir, 'out');
  mkdirSync(destination);
  const result = await bundleWithTestKeys(
    imagePath,
    destination,
    { accountId: options.accountId ?? '123456789012', architecture: options.architecture ?? 'x86_64' },
    { partSize: 16 * 1024 },
  );
  const files = [...result.parts.map((part) => path.join(destination, part.filename)), result.manifestPath];
  const keys: string[] = [];
  for (const file of files) {
    const key = `${prefix}${path.basename(file)}`;
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(file), ACL: options.acl ?? 'aws-exec-read' }),
    );
    keys.push(key);
  }
  return { result, location: `${bucket}/${prefix}${path.basename(result.manifestPath)}`, keys, folder: dir, cleanup };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Signs a request with the fake's credentials, lets the test change it, then sends it as is. */
export async function sendSigned(
  fake: LocalAws,
  options: {
    service: 's3' | 'ec2';
    method: string;
    path: string;
    headers?: Record<string, string>;
    body: string;
    tamper?: (body: string) => string;
  },
): Promise<RawAnswer> {
  const url = new URL(fake.endpoint);
  const signer = new SignatureV4({
    credentials: fake.credentials,
    region: fake.region,
    service: options.service,
    sha256: NodeSha256,
    uriEscapePath: options.service !== 's3',
  });
  const signed = await signer.sign({
    method: options.method,
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: options.path,
    query: {},
    headers: { host: url.host, 'content-length': String(Buffer.byteLength(options.body)), ...options.headers },
    body: options.body,
  });
  const body = options.tamper ? options.tamper(options.body) : options.body;
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: Number(url.port),
        method: options.method,
        path: options.path,
        headers: signed.headers,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
