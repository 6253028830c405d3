import { strict as assert } from 'assert';
import { extractSignedText, Manifest, renderManifest, signedTextOf, escapeXml } from '../../provider/bundle/manifest';
import { parseManifest } from '../../provider/bundle/manifestParse';
import { BundleIntegrityError } from '../../provider/bundle/errors';

const hex = (char: string, length: number) => char.repeat(length);

function fullManifest(): Manifest {
  return {
    version: '2007-10-10',
    bundler: { name: 'pulumi-unikernel', version: '0.1', release: '0' },
    machineConfiguration: {
      architecture: 'x86_64',
      blockDeviceMappings: [
        { virtual: 'root', device: '/dev/sda1' },
        { virtual: 'ami', device: 'sda1' },
        { virtual: 'ephemeral0', device: 'sdb' },
      ],
      kernelId: 'aki-fc8f11cc',
      ramdiskId: 'ari-12345678',
      productCodes: ['8ZLKNE5V', 'ABC123'],
    },
    image: {
      name: 'app.img',
      user: '123456789012',
      type: 'machine',
      ancestorAmiIds: ['ami-12345678'],
      digest: hex('d', 40),
      size: 26279936,
      bundledSize: 5333136,
      ec2EncryptedKey: hex('a', 8),
      userEncryptedKey: hex('b', 8),
      ec2EncryptedIv: hex('c', 8),
      userEncryptedIv: hex('e', 8),
      parts: [
        { index: 0, filename: 'app.img.part.0', digest: hex('1', 40) },
        { index: 1, filename: 'app.img.part.1', digest: hex('2', 40) },
      ],
    },
    signature: hex('f', 16),
  };
}

/** The exact bytes REXML writes for this document (element order of the 2007-10-10 format). */
const GOLDEN =
  "<?xml version='1.0'?><manifest><version>2007-10-10</version>" +
  '<bundler><name>pulumi-unikernel</name><version>0.1</version><release>0</release></bundler>' +
  '<machine_configuration><architecture>x86_64</architecture><block_device_mapping>' +
  '<mapping><virtual>ami</virtual><device>sda1</device></mapping>' +
  '<mapping><virtual>ephemeral0</virtual><device>sdb</device></mapping>' +
  '<mapping><virtual>root</virtual><device>/dev/sda1</device></mapping></block_device_mapping>' +
  '<kernel_id>aki-fc8f11cc</kernel_id><ramdisk_id>ari-12345678</ramdisk_id>' +
  '<product_codes><product_code>8ZLKNE5V</product_code><product_code>ABC123</product_code></product_codes></machine_configuration>' +
  '<image><name>app.img</name><user>123456789012</user><type>machine</type>' +
  '<ancestry><ancestor_ami_id>ami-12345678</ancestor_ami_id></ancestry>' +
  `<digest algorithm='SHA1'>${hex('d', 40)}</digest><size>26279936</size><bundled_size>5333136</bundled_size>` +
  "<ec2_encrypted_key algorithm='AES-128-CBC'>aaaaaaaa</ec2_encrypted_key>" +
  "<user_encrypted_key algorithm='AES-128-CBC'>bbbbbbbb</user_encrypted_key>" +
  '<ec2_encrypted_iv>cccccccc</ec2_encrypted_iv><user_encrypted_iv>eeeeeeee</user_encrypted_iv>' +
  "<parts count='2'><part index='0'><filename>app.img.part.0</filename>" +
  `<digest algorithm='SHA1'>${hex('1', 40)}</digest></part>` +
  "<part index='1'><filename>app.img.part.1</filename>" +
  `<digest algorithm='SHA1'>${hex('2', 40)}</digest></part></parts></image>` +
  `<signature>${hex('f', 16)}</signature></manifest>`;

describe('manifest serialization', () => {
  it('writes the canonical REXML form with every optional field, mappings sorted by virtual name', () => {
    assert.equal(renderManifest(fullManifest()), GOLDEN);
  });

  it('omits absent optional elements entirely (never empty elements)', () => {
    const manifest = fullManifest();
    manifest.machineConfiguration = { architecture: 'i386' };
    manifest.image.ancestorAmiIds = [];
    manifest.bundler = { name: 'x' };
    const xml = renderManifest(manifest);
    assert.match(
      xml,
      /<bundler><name>x<\/name><\/bundler><machine_configuration><architecture>i386<\/architecture><\/machine_configuration><image>/,
    );
    assert.doesNotMatch(xml, /ancestry|kernel_id|product_codes|block_device_mapping|<version>0/);
  });

  it('signs exactly machine_configuration followed by image, as found by text search', () => {
    const manifest = fullManifest();
    const xml = renderManifest(manifest);
    const expected = xml.slice(xml.indexOf('<machine_configuration>'), xml.indexOf('</image>') + '</image>'.length);
    assert.equal(signedTextOf(manifest), expected);
    assert.equal(extractSignedText(xml), expected);
  });

  it('escapes all five XML special characters', () => {
    assert.equal(escapeXml(`a&b<c>d"e'f`), 'a&amp;b&lt;c&gt;d&quot;e&apos;f');
  });

  it('parses what it writes back to the same model, and flags non-canonical text', () => {
    const { manifest, canonical } = parseManifest(GOLDEN);
    assert.equal(canonical, true);
    const expected = fullManifest();
    expected.machineConfiguration.blockDeviceMappings = [
      { virtual: 'ami', device: 'sda1' },
      { virtual: 'ephemeral0', device: 'sdb' },
      { virtual: 'root', device: '/dev/sda1' },
    ];
    assert.deepEqual(manifest, { ...expected, image: { ...expected.image, kernelName: undefined } });
    const doubleQuoted = GOLDEN.replace(`algorithm='SHA1'`, 'algorithm="SHA1"');
    assert.equal(parseManifest(doubleQuoted).canonical, false);
    assert.equal(parseManifest(GOLDEN.replace('</manifest>', '</manifest>\n')).canonical, false);
  });

  it("reports a missing or empty field with ec2-unbundle's words", () => {
    assert.throws(
      () => parseManifest(GOLDEN.replace(/<digest algorithm='SHA1'>d+<\/digest>/, '')),
      /invalid AMI manifest, digest element not present/,
    );
    assert.throws(
      () => parseManifest(GOLDEN.replace('<user>123456789012</user>', '<user></user>')),
      /invalid AMI manifest, user element empty/,
    );
  });

  it('refuses a part list whose count or indexes disagree', () => {
    assert.throws(() => parseManifest(GOLDEN.replace("count='2'", "count='3'")), /count='3' but lists 2 parts/);
    assert.throws(() => parseManifest(GOLDEN.replace("index='1'", "index='5'")), /part indexes/);
  });

  it('refuses any DOCTYPE, so no entity can be declared or expanded', () => {
    const bomb =
      '<?xml version=\'1.0\'?><!DOCTYPE manifest [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' +
      GOLDEN.slice("<?xml version='1.0'?>".length).replace('<name>app.img</name>', '<name>&c;</name>');
    assert.throws(
      () => parseManifest(bomb),
      (error: unknown) => error instanceof BundleIntegrityError && error.check === 'manifest-dtd',
    );
  });

  it('refuses an undefined entity and malformed XML', () => {
    assert.throws(() => parseManifest(GOLDEN.replace('app.img</name>', '&xxe;</name>')), /not well-formed XML/);
    assert.throws(() => parseManifest(GOLDEN.slice(0, -5)), /not well-formed XML/);
  });

  it('refuses other manifest versions', () => {
    assert.throws(
      () => parseManifest(GOLDEN.replace('<version>2007-10-10</version>', '<version>2007-08-29</version>')),
      /only 2007-10-10/,
    );
  });
});
