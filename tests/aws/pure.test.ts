/** The AWS layer's pure rules: locations, ids, upload planning, tags, kernel choice, boot checks, errors. */
import { strict as assert } from 'assert';
import { Image, InstanceTypeInfo } from '@aws-sdk/client-ec2';
import { AwsInputError, AwsOperationError, describeAwsError, redact } from '../../provider/aws/errors';
import { bucketName, imageId, instanceId, kernelId } from '../../provider/aws/ids';
import { objectKey, parseBucketArgument, parseImageLocation } from '../../provider/aws/location';
import { bundleAddress, imageLocation } from '../../provider/aws/bundleAddress';
import { planUpload, LocalFile } from '../../provider/aws/uploadPlan';
import { tagChanges } from '../../provider/aws/tags';
import { pickPvGrubKernel } from '../../provider/aws/kernels';
import { bootProblem } from '../../provider/aws/instanceTypes';
import { forEachLimited } from '../../provider/aws/concurrency';

describe('AWS layer rules', () => {
  describe('bundle locations (ec2-upload-bundle -b)', () => {
    it('splits bucket[/prefix] the way ec2-upload-bundle does', () => {
      assert.deepEqual(parseBucketArgument('mybucket'), { bucket: 'mybucket', keyPrefix: '' });
      assert.deepEqual(parseBucketArgument('/mybucket/images/v1/'), { bucket: 'mybucket', keyPrefix: 'images/v1/' });
      const location = parseBucketArgument('mybucket/images/v1');
      assert.equal(objectKey(location, 'app.img.part.0'), 'images/v1/app.img.part.0');
      assert.equal(imageLocation(bundleAddress(location, 'app.img')), 'mybucket/images/v1/app.img.manifest.xml');
    });

    it('refuses bad bucket names and prefixes, naming the rule', () => {
      assert.throws(() => parseBucketArgument('My_Bucket'), /lowercase letters/);
      assert.throws(() => parseBucketArgument('ab'), /3 to 63/);
      assert.throws(() => parseBucketArgument('a..b'), /"\.\."/);
      assert.throws(() => parseBucketArgument('bucket/a/../b'), /segment/);
      assert.throws(() => parseBucketArgument('//'), /is empty/);
    });

    it('parses ImageLocation back into bucket and key', () => {
      assert.deepEqual(parseImageLocation('mybucket/images/v1/app.img.manifest.xml'), {
        bucket: 'mybucket',
        key: 'images/v1/app.img.manifest.xml',
      });
      assert.deepEqual(parseImageLocation('s3://b-1/a.manifest.xml'), { bucket: 'b-1', key: 'a.manifest.xml' });
      assert.throws(() => parseImageLocation('mybucket/app.img'), /manifest location/);
    });
  });

  it('brands ids only after checking their shape', () => {
    assert.equal(imageId('ami-0123456789abcdef0'), 'ami-0123456789abcdef0');
    assert.equal(instanceId('i-12345678'), 'i-12345678');
    assert.equal(kernelId('aki-fc8f11cc'), 'aki-fc8f11cc');
    assert.throws(
      () => imageId('i-12345678'),
      (error: unknown) => error instanceof AwsInputError && /not an AMI id/.test(error.message),
    );
    assert.throws(() => bucketName('UPPER'), /lowercase/);
  });

  describe('upload plan', () => {
    const file = (key: string, md5: string, size = 10): LocalFile => ({
      key,
      fileName: key,
      path: `/tmp/${key}`,
      size,
      md5,
    });
    const parts = [file('a.part.0', 'aa'), file('a.part.1', 'bb'), file('a.part.2', 'cc', 5)];
    const manifest = file('a.manifest.xml', 'mm', 3);

    it('uploads everything to an empty prefix, manifest last', () => {
      const plan = planUpload(parts, manifest, []);
      assert.deepEqual(
        plan.upload.map((part) => part.key),
        ['a.part.0', 'a.part.1', 'a.part.2'],
      );
      assert.equal(plan.manifest?.key, 'a.manifest.xml');
      assert.deepEqual(plan.stale, []);
    });

    it('skips parts S3 already holds with the same MD5 and size (resume)', () => {
      const plan = planUpload(parts, manifest, [
        { key: 'a.part.0', size: 10, etag: 'AA' },
        { key: 'a.part.1', size: 10, etag: 'different' },
        { key: 'a.part.2', size: 4, etag: 'cc' },
      ]);
      assert.deepEqual(
        plan.skip.map((part) => part.key),
        ['a.part.0'],
      );
      assert.deepEqual(
        plan.upload.map((part) => part.key),
        ['a.part.1', 'a.part.2'],
      );
      assert.ok(plan.manifest);
    });

    it('does nothing when the whole bundle is already there, and removes stale parts of an earlier bundle', () => {
      const remote = [
        ...parts.map((part) => ({ key: part.key, size: part.size, etag: part.md5 })),
        { key: 'a.manifest.xml', size: 3, etag: 'mm' },
        { key: 'a.part.3', size: 1, etag: 'x' },
      ];
      const plan = planUpload(parts, manifest, remote);
      assert.deepEqual(plan.upload, []);
      assert.equal(plan.manifest, undefined);
      assert.deepEqual(plan.stale, ['a.part.3']);
    });
  });

  it('computes tag changes: set what is new or changed, remove what is gone', () => {
    assert.deepEqual(tagChanges({ a: '1', b: '2', c: '3' }, { a: '1', b: '20', d: '4' }), {
      set: { b: '20', d: '4' },
      remove: ['c'],
    });
  });

  it('picks the newest available PV-GRUB hd0 kernel for the architecture', () => {
    const kernel = (id: string, name: string, architecture: 'x86_64' | 'i386', state = 'available'): Image => ({
      ImageId: id,
      Name: name,
      Architecture: architecture,
      ImageType: 'kernel',
      State: state as Image['State'],
    });
    const images = [
      kernel('aki-00000001', 'pv-grub-hd0_1.04-x86_64.gz', 'x86_64'),
      kernel('aki-00000002', 'pv-grub-hd0_1.05-x86_64.gz', 'x86_64'),
      kernel('aki-00000003', 'pv-grub-hd00_1.05-x86_64.gz', 'x86_64'),
      kernel('aki-00000004', 'pv-grub-hd0_1.05-i386.gz', 'i386'),
      kernel('aki-00000005', 'pv-grub-hd0_1.10-x86_64.gz', 'x86_64', 'deregistered'),
    ];
    assert.equal(pickPvGrubKernel(images, 'x86_64')?.ImageId, 'aki-00000002');
    assert.equal(pickPvGrubKernel(images, 'i386')?.ImageId, 'aki-00000004');
    assert.equal(pickPvGrubKernel([], 'x86_64'), undefined);
  });

  it('knows which instance types can boot an instance-store (PV or HVM) or EBS image, and says where PV runs', () => {
    const image = { rootDeviceType: 'instance-store', virtualizationType: 'paravirtual', architecture: 'x86_64' };
    const m1: InstanceTypeInfo = {
      InstanceType: 'm1.small',
      SupportedRootDeviceTypes: ['ebs', 'instance-store'],
      SupportedVirtualizationTypes: ['hvm', 'paravirtual'],
      ProcessorInfo: { SupportedArchitectures: ['i386', 'x86_64'] },
    };
    const t3: InstanceTypeInfo = {
      InstanceType: 't3.micro',
      SupportedRootDeviceTypes: ['ebs'],
      SupportedVirtualizationTypes: ['hvm'],
      ProcessorInfo: { SupportedArchitectures: ['x86_64'] },
    };
    assert.equal(bootProblem(m1, image), undefined);
    assert.equal(
      bootProblem(t3, image),
      'it supports ebs root devices, not instance-store (a paravirtual instance-store image boots only on C1, C3, M1, M2 and M3 types, in the regions that still have PV)',
    );
    assert.equal(
      bootProblem({ ...m1, InstanceType: 'r3.large', SupportedVirtualizationTypes: ['hvm'] }, image),
      'it supports hvm virtualization, not paravirtual (a paravirtual instance-store image boots only on C1, C3, M1, M2 and M3 types, in the regions that still have PV)',
    );
    const hvmImage = { ...image, virtualizationType: 'hvm' };
    assert.equal(
      bootProblem({ ...m1, InstanceType: 'r3.large', SupportedVirtualizationTypes: ['hvm'] }, hvmImage),
      undefined,
      'an instance-store HVM image boots on R3',
    );
    assert.equal(
      bootProblem(t3, hvmImage),
      'it supports ebs root devices, not instance-store (an instance-store image boots only on C1, C3, D2, I2, M1, M2, M3, R3 and X1 types)',
    );
    assert.equal(
      bootProblem(t3, { rootDeviceType: 'ebs', virtualizationType: 'hvm', architecture: 'arm64' }),
      'it runs x86_64, not arm64',
    );
  });

  it('turns SDK errors into one line with the operation, resource and remedy, masking access keys', () => {
    const sdkError = Object.assign(
      new Error('The AWS Access Key Id AKIAIOSFODNN7EXAMPLE you provided does not exist'),
      {
        name: 'InvalidAccessKeyId',
        $fault: 'client',
        $metadata: { httpStatusCode: 403, requestId: 'req-1' },
      },
    );
    const described = describeAwsError(sdkError, 'PutObject', 's3://b/k');
    assert.ok(described instanceof AwsOperationError);
    assert.equal(described.message.split('\n').length, 1);
    assert.match(described.message, /^PutObject s3:\/\/b\/k failed: InvalidAccessKeyId/);
    assert.match(described.message, /check AWS_ACCESS_KEY_ID/);
    assert.match(described.message, /HTTP 403, request id req-1/);
    assert.ok(!described.message.includes('AKIAIOSFODNN7EXAMPLE'));
    assert.equal(redact('key AKIAIOSFODNN7EXAMPLE'), 'key AKIA…');
    const throttled = describeAwsError(
      Object.assign(new Error('slow'), { name: 'RequestLimitExceeded' }),
      'RunInstances',
      'ami-1',
    );
    assert.equal((throttled as AwsOperationError).retryable, true);
  });

  it('runs at most N tasks at once and stops at the first failure', async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      started.push(item);
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running -= 1;
    });
    assert.equal(peak, 3);
    assert.equal(started.length, 7);
    const seen: number[] = [];
    await assert.rejects(
      forEachLimited([1, 2, 3, 4, 5, 6], 1, async (item) => {
        seen.push(item);
        if (item === 2) throw new Error('boom');
      }),
      /boom/,
    );
    assert.deepEqual(seen, [1, 2]);
  });
});
