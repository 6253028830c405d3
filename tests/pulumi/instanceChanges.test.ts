/**
 * A UnikernelInstance of an EBS-backed AMI through the engine model over the real dynamic-provider
 * plugin, against the local AWS: what EC2 changes in place is previewed as an update and made in
 * place (a type change by stop, modify and start, the boot verified again; the instance profile by
 * its association), what it cannot is
 * previewed as a replacement with the reason, and termination protection holds as EC2 holds it.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws, RecordedRequest } from '../../testing/localAws';
import { Declaration, EngineModel, Plan } from '../../testing/engineModel';
import { PluginClient, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { checkoutProject, MiB, temporaryFolder, writeImage } from '../helpers/tools';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };

const CHANGING = new Set([
  'RunInstances',
  'TerminateInstances',
  'StopInstances',
  'StartInstances',
  'ModifyInstanceAttribute',
  'ModifyInstanceMetadataOptions',
  'ModifyInstanceCreditSpecification',
  'MonitorInstances',
  'UnmonitorInstances',
  'CreateTags',
  'DeleteTags',
  'AssociateIamInstanceProfile',
  'ReplaceIamInstanceProfileAssociation',
  'DisassociateIamInstanceProfile',
]);

function changingCalls(requests: RecordedRequest[]): string[] {
  return requests
    .filter((request) => CHANGING.has(request.operation) && request.status < 300 && request.status !== 0)
    .map((request) => request.operation);
}

function planText(plan: Plan): string[] {
  return plan.steps.map((step) =>
    step.op === 'replace'
      ? `${step.name}: replace ${step.replaceKind} (${(step.replaces ?? []).join(', ')})`
      : `${step.name}: ${step.op}`,
  );
}

describe('engine model: a UnikernelInstance of an EBS-backed AMI changed in place or replaced, as EC2 allows', function () {
  this.timeout(120_000);

  let fake: LocalAws;
  let plugin: PluginClient;
  let folder: { dir: string; cleanup: () => void };
  let provider: string;
  let ami: string;
  let subnets: { first: string; second: string };

  before(async function () {
    fake = await LocalAws.start({
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
    });
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 1 };
    const ec2 = createEc2Client(settings);
    const ebs = createEbsClient(settings);
    folder = temporaryFolder('instance-changes');
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
    ami = (
      await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name: 'changes-ebs',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      })
    ).imageId;
    ec2.destroy();
    ebs.destroy();
    fake.scriptConsole({ imageId: ami }, { lines: ['Solo5: hvt', 'app: listening on :8080'] });
    subnets = { first: fake.createSubnetDirect(), second: fake.createSubnetDirect() };
    provider = await serializeProvider(unikernelInstanceProvider);
    plugin = await startPlugin({
      cwd: checkoutProject(),
      project: 'changes',
      config: { 'unikernel:pollSeconds': '0.02' },
      env: {
        AWS_ENDPOINT_URL: fake.endpoint,
        AWS_ENDPOINT_URL_S3: undefined,
        AWS_ENDPOINT_URL_EC2: undefined,
        AWS_REGION: fake.region,
        AWS_DEFAULT_REGION: undefined,
        AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: '',
      },
      deadlineMs: 60_000,
    });
  });

  afterEach(function () {
    for (const instance of fake.instances().filter((each) => each.state !== 'terminated'))
      fake.setInstanceStateDirect(instance.instanceId, 'terminated');
    fake.clearRequests();
  });

  after(async function () {
    await plugin?.stop();
    await fake?.stop();
    folder?.cleanup();
  });

  function program(inputs: Record<string, unknown> = {}): Declaration[] {
    return [
      {
        name: 'app',
        type: 'unikernel:UnikernelInstance',
        provider,
        inputs: {
          imageId: ami,
          instanceType: 't3.micro',
          subnetId: subnets.first,
          bootMarker: 'listening on',
          tags: { Name: 'app' },
          ...inputs,
        },
      },
    ];
  }

  const liveOnes = () => fake.instances().filter((each) => each.state !== 'terminated');

  async function upFirst(inputs: Record<string, unknown> = {}): Promise<EngineModel> {
    const engine = new EngineModel(plugin);
    assert.deepEqual(planText(await engine.up(program(inputs))), ['app: create']);
    fake.clearRequests();
    return engine;
  }

  it('a type change previews as an update; up stops, modifies and starts the same instance and verifies its boot again', async function () {
    const engine = await upFirst();
    const first = engine.entry('app')!;
    assert.equal(first.outputs.rootDeviceType, 'ebs');
    const bootedAt = (first.outputs.bootStatus as Record<string, string>).at;

    const preview = await engine.preview(program({ instanceType: 'm5.large' }));
    assert.deepEqual(planText(preview), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), [], 'a preview changes nothing');
    await plugin.waitForOutput(/instanceType t3.micro → m5.large: changed in place/);

    const plan = await engine.up(program({ instanceType: 'm5.large' }));
    assert.deepEqual(planText(plan), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), ['StopInstances', 'ModifyInstanceAttribute', 'StartInstances']);
    const modify = fake.requests.find((request) => request.operation === 'ModifyInstanceAttribute')!;
    assert.equal(modify.params['InstanceType.Value'], 'm5.large');
    const after = engine.entry('app')!;
    assert.equal(after.id, first.id, 'the same instance');
    assert.equal(after.outputs.instanceType, 'm5.large');
    assert.equal(after.outputs.state, 'running');
    const status = after.outputs.bootStatus as Record<string, string>;
    assert.equal(status.result, 'verified');
    assert.ok(Date.parse(status.at) > Date.parse(bootedAt), 'verified again after the start');
    assert.deepEqual(
      liveOnes().map((each) => [each.instanceId, each.instanceType]),
      [[first.id, 'm5.large']],
    );
    assert.deepEqual(planText(await engine.preview(program({ instanceType: 'm5.large' }))), ['app: same']);
    await engine.destroy();
    assert.deepEqual(liveOnes(), []);
  });

  it('a new type that cannot boot the AMI is refused before the instance is stopped', async function () {
    const engine = await upFirst();
    const id = engine.entry('app')!.id;
    await assert.rejects(engine.up(program({ instanceType: 't4g.micro' })), /t4g\.micro.*arm64|arm64.*t4g\.micro/);
    assert.deepEqual(changingCalls(fake.requests), [], 'nothing stopped, nothing modified');
    assert.deepEqual(
      liveOnes().map((each) => [each.instanceId, each.instanceType, each.state]),
      [[id, 't3.micro', 'running']],
    );
    await engine.destroy();
  });

  it('a subnet change previews as a replacement, its note saying why; up launches a new instance and terminates the old', async function () {
    const engine = await upFirst();
    const first = engine.entry('app')!.id;
    const preview = await engine.preview(program({ subnetId: subnets.second }));
    assert.deepEqual(planText(preview), ['app: replace create-before-delete (subnetId)', 'app: delete-replaced']);
    const note = await plugin.waitForOutput(/subnetId .* the instance is replaced/);
    assert.match(note, /an instance cannot move to another subnet/);
    const plan = await engine.up(program({ subnetId: subnets.second }));
    assert.deepEqual(planText(plan), ['app: replace create-before-delete (subnetId)', 'app: delete-replaced']);
    assert.deepEqual(changingCalls(fake.requests), ['RunInstances', 'TerminateInstances']);
    assert.notEqual(engine.entry('app')!.id, first);
    await engine.destroy();
    assert.deepEqual(liveOnes(), []);
  });

  it('groups, monitoring, credits, metadata options and shutdown behaviour change in place, each by its EC2 call', async function () {
    const engine = await upFirst();
    const id = engine.entry('app')!.id;
    const group = fake.createSecurityGroupDirect();
    const changed = program({
      securityGroupIds: [group],
      monitoring: true,
      creditSpecification: { cpuCredits: 'standard' },
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
      instanceInitiatedShutdownBehavior: 'terminate',
    });
    assert.deepEqual(planText(await engine.preview(changed)), ['app: update']);
    assert.deepEqual(planText(await engine.up(changed)), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), [
      'ModifyInstanceAttribute',
      'ModifyInstanceAttribute',
      'MonitorInstances',
      'ModifyInstanceCreditSpecification',
      'ModifyInstanceMetadataOptions',
    ]);
    assert.equal(engine.entry('app')!.id, id);
    assert.deepEqual(planText(await engine.preview(changed)), ['app: same']);
    // Refresh finds them as set: no drift.
    const refreshed = await engine.refresh();
    assert.equal(refreshed[0].gone, false);
    assert.deepEqual(planText(await engine.preview(changed)), ['app: same']);
    await engine.destroy();
  });

  it('an instance profile given, changed or removed previews as an update and is changed in place by its association', async function () {
    const firstArn = fake.createInstanceProfileDirect('first-role');
    const secondArn = fake.createInstanceProfileDirect('second-role');
    const engine = await upFirst({ iamInstanceProfile: 'first-role' });
    const id = engine.entry('app')!.id;
    const profileOf = () => liveOnes().map((each) => [each.instanceId, each.iamInstanceProfileArn]);
    assert.deepEqual(profileOf(), [[id, firstArn]]);

    const changed = program({ iamInstanceProfile: secondArn });
    assert.deepEqual(planText(await engine.preview(changed)), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), [], 'a preview changes nothing');
    await plugin.waitForOutput(/iamInstanceProfile "first-role" → ".*second-role": changed in place/);
    assert.deepEqual(planText(await engine.up(changed)), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), ['ReplaceIamInstanceProfileAssociation']);
    assert.deepEqual(profileOf(), [[id, secondArn]], 'the same instance, with the new profile');
    assert.deepEqual(planText(await engine.preview(changed)), ['app: same']);

    fake.clearRequests();
    assert.deepEqual(planText(await engine.up(program())), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), ['DisassociateIamInstanceProfile']);
    assert.deepEqual(profileOf(), [[id, undefined]]);

    fake.clearRequests();
    assert.deepEqual(planText(await engine.up(program({ iamInstanceProfile: 'first-role' }))), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), ['AssociateIamInstanceProfile']);
    assert.deepEqual(profileOf(), [[id, firstArn]]);

    // Replaced outside the program: refresh records it, and the next up puts the program's back.
    const { EC2Client, DescribeIamInstanceProfileAssociationsCommand, ReplaceIamInstanceProfileAssociationCommand } =
      await import('@aws-sdk/client-ec2');
    const ec2 = new EC2Client({ endpoint: fake.endpoint, region: fake.region, credentials: { ...fake.credentials } });
    const [association] = (
      await ec2.send(
        new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: 'instance-id', Values: [id] }] }),
      )
    ).IamInstanceProfileAssociations!;
    await ec2.send(
      new ReplaceIamInstanceProfileAssociationCommand({
        AssociationId: association.AssociationId,
        IamInstanceProfile: { Name: 'second-role' },
      }),
    );
    ec2.destroy();
    await engine.refresh();
    assert.equal(engine.entry('app')!.inputs.iamInstanceProfile, secondArn, 'refresh recorded the drift');
    assert.deepEqual(planText(await engine.preview(program({ iamInstanceProfile: 'first-role' }))), ['app: update']);
    fake.clearRequests();
    await engine.up(program({ iamInstanceProfile: 'first-role' }));
    assert.deepEqual(changingCalls(fake.requests), ['ReplaceIamInstanceProfileAssociation']);
    assert.deepEqual(profileOf(), [[id, firstArn]]);
    await engine.destroy();
    assert.deepEqual(liveOnes(), []);
  });

  it('termination protection: destroy is refused with what to do, a replacement is refused in preview; turned off in place, destroy works', async function () {
    const engine = await upFirst({ disableApiTermination: true });
    const id = engine.entry('app')!.id;
    await assert.rejects(
      engine.destroy(),
      /disableApiTermination is true.*set disableApiTermination to false and run pulumi up, then destroy/,
    );
    assert.deepEqual(
      liveOnes().map((each) => each.instanceId),
      [id],
      'the instance is still there, and still in the stack',
    );
    assert.equal(engine.entry('app')?.id, id);
    await assert.rejects(
      engine.preview(program({ disableApiTermination: true, subnetId: subnets.second })),
      /has disableApiTermination true, and subnetId would replace it/,
    );
    fake.clearRequests();
    assert.deepEqual(planText(await engine.up(program({ disableApiTermination: false }))), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), ['ModifyInstanceAttribute']);
    await engine.destroy();
    assert.deepEqual(liveOnes(), []);
  });

  it('refresh shows drift made outside the program, and the next up puts it back in place', async function () {
    const credits = { creditSpecification: { cpuCredits: 'standard' } };
    const engine = await upFirst(credits);
    const id = engine.entry('app')!.id;
    const { EC2Client, ModifyInstanceAttributeCommand, ModifyInstanceCreditSpecificationCommand } =
      await import('@aws-sdk/client-ec2');
    const ec2 = new EC2Client({ endpoint: fake.endpoint, region: fake.region, credentials: { ...fake.credentials } });
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiTermination: { Value: true } }));
    await ec2.send(
      new ModifyInstanceCreditSpecificationCommand({
        InstanceCreditSpecifications: [{ InstanceId: id, CpuCredits: 'unlimited' }],
      }),
    );
    ec2.destroy();
    await engine.refresh();
    assert.equal(engine.entry('app')!.inputs.disableApiTermination, true, 'refresh recorded the drift');
    assert.deepEqual(engine.entry('app')!.inputs.creditSpecification, { cpuCredits: 'unlimited' });
    assert.deepEqual(planText(await engine.preview(program(credits))), ['app: update']);
    fake.clearRequests();
    await engine.up(program(credits));
    assert.deepEqual(changingCalls(fake.requests), ['ModifyInstanceAttribute', 'ModifyInstanceCreditSpecification']);
    assert.deepEqual(planText(await engine.preview(program(credits))), ['app: same']);
    await engine.destroy();
    assert.deepEqual(liveOnes(), []);
  });
});
