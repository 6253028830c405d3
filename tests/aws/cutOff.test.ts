/**
 * Calls that make something, cut off: RegisterImage (no client token: found by its name) and
 * RunInstances (found by its client token), their answers lost or their signals aborted while the
 * request is in flight, against the local AWS with the real SDK clients over HTTP. What AWS made is
 * either the result (only the answer was lost) or reported with its id (the signal ended the call),
 * never left unnamed; an AMI of the same name that registers something else is refused.
 */
import { strict as assert } from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { createClients, AwsClients, createEbsClient } from '../../provider/aws/clients';
import { registerEbsImage } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { AwsOperationError } from '../../provider/aws/errors';
import { imageId, SnapshotId } from '../../provider/aws/ids';
import {
  ImageNotAvailableError,
  registerAndWait,
  registerImage,
  RegisterImageOptions,
} from '../../provider/aws/images';
import { InstanceNotRunningError, launchOrFind } from '../../provider/aws/instances';
import { parseBucketArgument } from '../../provider/aws/location';
import { uploadBundle } from '../../provider/aws/upload';
import { LocalAws, RecordedRequest } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';

const LOOK = { seconds: 5, intervalSeconds: 0.05 };

describe('cut-off calls: what RegisterImage and RunInstances made is found, never left unnamed', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;
  let manifests: { first: string; second: string };
  let snapshots: { first: SnapshotId; second: SnapshotId };
  let nameCounter = 0;

  before(async () => {
    fake = await LocalAws.start({ instancePendingMs: 30, instanceShuttingDownMs: 30, imagePendingMs: 20 });
    aws = createClients({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: fake.credentials,
      maxAttempts: 3,
    });
    folder = temporaryFolder('cut-off');
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: MiB }]);
    const out = path.join(folder.dir, 'bundle');
    await fs.mkdir(out);
    const bundle = await bundleWithTestKeys(image, out, {}, { partSize: 256 * 1024 });
    fake.createBucket('cut-off', { objectOwnership: 'ObjectWriter' });
    const upload = async (prefix: string) =>
      (
        await uploadBundle({
          s3: aws.s3,
          manifestPath: bundle.manifestPath,
          location: parseBucketArgument(`cut-off/${prefix}`),
        })
      ).imageLocation;
    manifests = { first: await upload('one'), second: await upload('two') };
    const ebs = createEbsClient({ endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials });
    const snapshot = async () =>
      (await uploadSnapshot({ ebs, ec2: aws.ec2, imagePath: image, wait: { minDelaySeconds: 0.02 } }))
        .snapshotId as SnapshotId;
    snapshots = { first: await snapshot(), second: await snapshot() };
    ebs.destroy();
  });
  after(async () => {
    aws.ec2.destroy();
    aws.s3.destroy();
    await fake?.stop();
    folder?.cleanup();
  });
  beforeEach(() => {
    fake.faults.clear();
    fake.clearRequests();
  });

  /** A name new for each registration, as RegisteredAmi makes them (NAME-xxxxxxxx). */
  const freshName = () => `app-${(++nameCounter).toString(16).padStart(8, '0')}`;
  const imagesNamed = (name: string) =>
    fake.images().filter((image) => image.name === name && image.state !== 'deregistered');
  const calls = (operation: string) => fake.requests.filter((request) => request.operation === operation);
  const bundleOptions = (name: string, extra: Partial<RegisterImageOptions> = {}): RegisterImageOptions => ({
    ec2: aws.ec2,
    imageLocation: manifests.first,
    name,
    architecture: 'x86_64',
    lookAgain: LOOK,
    ...extra,
  });

  /** Aborts `controller` once the local AWS has received the first request `matches` names. */
  function abortWhenReceived(controller: AbortController, matches: (request: RecordedRequest) => boolean): void {
    const timer = setInterval(() => {
      if (fake.requests.some(matches)) {
        clearInterval(timer);
        controller.abort(new Error('cancelled (test)'));
      }
    }, 5);
  }

  async function landed(operation: string): Promise<void> {
    const start = Date.now();
    while (calls(operation).some((request) => request.status === 0)) {
      if (Date.now() - start > 10_000) throw new Error(`the delayed ${operation} never landed`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("RegisterImage's answer lost: the SDK's retry meets InvalidAMIName.Duplicate, and the AMI of the create's own name, registering its manifest, is the result", async () => {
    const name = freshName();
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'answerLost', times: 1 });
    const registered = await registerImage(bundleOptions(name, { nameIsOwn: true }));
    assert.deepEqual(
      calls('RegisterImage').map((request) => request.errorCode ?? 'ok'),
      ['ConnectionReset', 'InvalidAMIName.Duplicate'],
      'the first answer was lost, the retry found the name taken',
    );
    const made = imagesNamed(name);
    assert.equal(made.length, 1);
    assert.equal(registered.imageId, made[0].imageId);
    assert.match(registered.foundByName ?? '', /answer was lost.*registers .*one\/app\.img\.manifest\.xml/);
  });

  it('the same lost answer without a name of its own (the CLI, exactName): the Duplicate is reported as AWS gave it', async () => {
    const name = freshName();
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'answerLost', times: 1 });
    await assert.rejects(
      registerImage(bundleOptions(name)),
      (error: unknown) => error instanceof AwsOperationError && error.code === 'InvalidAMIName.Duplicate',
    );
    assert.equal(imagesNamed(name).length, 1, 'the AMI the first attempt registered exists (the CLI names it)');
  });

  it('a Duplicate of its own name whose AMI registers another manifest is refused with one line naming both', async () => {
    const name = freshName();
    const other = await registerImage(bundleOptions(name, { imageLocation: manifests.second }));
    const error = await registerImage(bundleOptions(name, { nameIsOwn: true })).then(
      () => assert.fail('must be refused'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof AwsOperationError, String(error));
    assert.equal(error.code, 'InvalidAMIName.Duplicate');
    assert.ok(error.message.includes(other.imageId), error.message);
    assert.match(error.message, /does not register .*one\/app\.img\.manifest\.xml; run the update again/);
    assert.doesNotMatch(error.message, /\n/);
    assert.deepEqual(
      imagesNamed(name).map((image) => image.imageId),
      [other.imageId],
      'nothing else was registered',
    );
  });

  it('RegisterImage cut off by its signal while in flight: the AMI AWS registered is found by its name and reported with its id', async () => {
    const name = freshName();
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'latency', ms: 400 });
    const controller = new AbortController();
    abortWhenReceived(controller, (request) => request.operation === 'RegisterImage');
    const error = await registerImage(bundleOptions(name, { nameIsOwn: true, signal: controller.signal })).then(
      () => assert.fail('the call was cut off'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof ImageNotAvailableError, String(error));
    const made = imagesNamed(name);
    assert.equal(made.length, 1, 'the delayed request was carried out after the client gave up');
    assert.equal(error.imageId, made[0].imageId);
    assert.equal(
      error.message,
      `RegisterImage was cut off in flight (cancelled (test)) after AWS registered ${error.imageId} (${error.state}), found by its name ${name}`,
    );
  });

  it('RegisterImage cut off, and nothing of its name found in the time given: the error says so and names the name', async () => {
    const name = freshName();
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'latency', ms: 1500 });
    const controller = new AbortController();
    abortWhenReceived(controller, (request) => request.operation === 'RegisterImage');
    await assert.rejects(
      registerImage(
        bundleOptions(name, { signal: controller.signal, lookAgain: { seconds: 0.2, intervalSeconds: 0.05 } }),
      ),
      (error: unknown) =>
        error instanceof AwsOperationError &&
        error.code === 'RegistrationCutOff' &&
        error.message.includes(`no AMI named ${name} was found in 0.2 s`) &&
        /if an AMI of that name appears, deregister it/.test(error.message),
    );
    await landed('RegisterImage');
    for (const image of imagesNamed(name)) fake.deregisterImageDirect(image.imageId);
  });

  it("EBS-backed: RegisterImage's answer lost, the AMI of its own name on its snapshot is the result; on another snapshot, refused", async () => {
    const name = freshName();
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'answerLost', times: 1 });
    const registered = await registerEbsImage({
      ec2: aws.ec2,
      snapshotId: snapshots.first,
      name,
      architecture: 'x86_64',
      nameIsOwn: true,
      lookAgain: LOOK,
    });
    const made = imagesNamed(name);
    assert.equal(made.length, 1);
    assert.equal(registered.imageId, made[0].imageId);
    assert.match(registered.foundByName ?? '', new RegExp(`registers ${snapshots.first}`));

    await assert.rejects(
      registerEbsImage({
        ec2: aws.ec2,
        snapshotId: snapshots.second,
        name,
        architecture: 'x86_64',
        nameIsOwn: true,
        lookAgain: LOOK,
      }),
      (error: unknown) =>
        error instanceof AwsOperationError &&
        error.code === 'InvalidAMIName.Duplicate' &&
        error.message.includes(`taken by ${made[0].imageId}, which does not register ${snapshots.second}`),
    );
  });

  it('EBS-backed: RegisterImage cut off by its signal in flight: the AMI on the snapshot is reported with its id', async () => {
    const name = freshName();
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'latency', ms: 400 });
    const controller = new AbortController();
    abortWhenReceived(controller, (request) => request.operation === 'RegisterImage');
    const error = await registerEbsImage({
      ec2: aws.ec2,
      snapshotId: snapshots.second,
      name,
      architecture: 'x86_64',
      nameIsOwn: true,
      lookAgain: LOOK,
      signal: controller.signal,
    }).then(
      () => assert.fail('the call was cut off'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof ImageNotAvailableError, String(error));
    assert.equal(error.imageId, imagesNamed(name)[0]?.imageId);
  });

  describe('RunInstances', () => {
    let ami: string;
    before(async () => {
      const options = bundleOptions(freshName(), { wait: { minDelaySeconds: 0.02, maxDelaySeconds: 0.05 } });
      ami = (await registerAndWait(options)).imageId;
    });
    const launch = (clientToken: string, signal?: AbortSignal) =>
      launchOrFind({ ec2: aws.ec2, imageId: imageId(ami), instanceType: 'm3.medium', clientToken, signal }, LOOK);
    const withToken = (token: string) =>
      fake.instances().filter((instance) => instance.clientToken === token && instance.state !== 'terminated');

    it('every answer lost (the connection fails after every retry): the instance is found by its client token and is the result', async () => {
      fake.faults.inject({ service: 'ec2', operation: 'RunInstances', kind: 'answerLost', times: 3 });
      const launched = await launch('cut-off-lost');
      assert.equal(calls('RunInstances').length, 3, 'the SDK tried three times, each answer lost');
      const made = withToken('cut-off-lost');
      assert.equal(made.length, 1, 'the client token kept the retries to one instance');
      assert.equal(launched.instanceId, made[0].instanceId);
      assert.match(launched.foundByToken ?? '', /found by its client token/);
    });

    it('cut off by its signal while in flight: the instance EC2 started is reported with its id', async () => {
      fake.faults.inject({ service: 'ec2', operation: 'RunInstances', kind: 'latency', ms: 400 });
      const controller = new AbortController();
      abortWhenReceived(controller, (request) => request.operation === 'RunInstances');
      const error = await launch('cut-off-signal', controller.signal).then(
        () => assert.fail('the call was cut off'),
        (failure: unknown) => failure,
      );
      assert.ok(error instanceof InstanceNotRunningError, String(error));
      const made = withToken('cut-off-signal');
      assert.equal(made.length, 1);
      assert.equal(error.instanceId, made[0].instanceId);
      assert.equal(
        error.message,
        `RunInstances was cut off in flight (cancelled (test)) after EC2 started ${error.instanceId} (${error.state}), found by its client token`,
      );
    });

    it('cut off before RunInstances was sent: nothing is looked for, the abort is reported as it was', async () => {
      const controller = new AbortController();
      controller.abort(new Error('cancelled (test)'));
      const started = Date.now();
      await assert.rejects(
        launch('cut-off-early', controller.signal),
        (error: unknown) => !(error instanceof InstanceNotRunningError),
      );
      assert.ok(Date.now() - started < LOOK.seconds * 1000, 'no look-again wait');
      assert.equal(calls('RunInstances').length, 0);
      assert.equal(
        calls('DescribeInstances').filter((request) => request.params['Filter.1.Name'] === 'client-token').length,
        0,
      );
    });
  });
});
