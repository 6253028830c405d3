/**
 * RegisteredAmi from a bundle manifest in S3: an instance-store AMI (paravirtual unless hvm is
 * asked for). An AMI registered but never available is a partial failure carrying its id; any
 * other failure after registering deregisters it.
 */
import { appliedTags } from '../defaultTags';
import { deadline } from '../cancellation';
import { createClients } from '../../aws/clients';
import { imageId, kernelId, ramdiskId } from '../../aws/ids';
import {
  deregisterImage,
  describeImage,
  ImageNotAvailableError,
  ImageRegistrationCutOffError,
  registerImage,
  waitForImageAvailable,
} from '../../aws/images';
import { PartialFailure, reason } from '../failures';
import { progress } from '../log';
import { awsSettings, resolveRegion, waitOptions } from '../settings';
import { AmiSourceOperations } from './source';
import { amiLabel, amiOutputs, DEFAULT_TIMEOUT_SECONDS } from './state';

export const fromBundle: AmiSourceOperations = {
  async prepare(news) {
    return news;
  },

  async create(props, inputs, imageName) {
    const label = amiLabel(inputs.name);
    const region = await resolveRegion(inputs.region);
    const { ec2 } = createClients(awsSettings(region));
    const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    const signal = deadline(timeout);
    if (inputs.manifestLocation === undefined)
      throw new Error(`${label}: no manifestLocation to register (check requires one)`);
    const registered = await registerImage({
      ec2,
      imageLocation: inputs.manifestLocation,
      name: imageName,
      description: inputs.description,
      architecture: inputs.architecture === 'i386' ? 'i386' : 'x86_64',
      virtualizationType: inputs.virtualizationType ?? 'paravirtual',
      kernelId: inputs.kernelId === undefined ? undefined : kernelId(inputs.kernelId),
      ramdiskId: inputs.ramdiskId === undefined ? undefined : ramdiskId(inputs.ramdiskId),
      blockDeviceMappings: inputs.blockDeviceMappings,
      tags: appliedTags(inputs.tags),
      signal,
      nameIsOwn: inputs.exactName !== true,
      lookAgain: { intervalSeconds: waitOptions(timeout).minDelaySeconds },
    }).catch((error: unknown) => {
      // Cut off by a signal after AWS registered it: the AMI exists, and the state keeps its id.
      if (!(error instanceof ImageRegistrationCutOffError)) throw error;
      const facts = {
        imageId: error.imageId,
        region,
        state: `${error.state}, registration cut off`,
        tags: appliedTags(inputs.tags),
      };
      throw new PartialFailure(error.imageId, { ...props, ...amiOutputs(inputs, facts) }, [
        `${error.message}; it is kept in the state: the next up replaces it (a refresh before it finds the AMI available and keeps it), destroy deregisters it`,
      ]);
    });
    if (registered.foundByName) progress(label, registered.foundByName);
    progress(
      label,
      `registered ${registered.imageId}${registered.kernelId ? ` (kernel ${registered.kernelId})` : ''}; waiting until it is available`,
    );
    const facts = { imageId: registered.imageId, region, effectiveKernelId: registered.kernelId };
    try {
      const image = await waitForImageAvailable(ec2, registered.imageId, waitOptions(timeout), signal);
      progress(label, `${image.imageId} is available`);
      return { id: image.imageId, outs: amiOutputs(inputs, { ...facts, state: image.state, tags: image.tags }) };
    } catch (error) {
      if (error instanceof ImageNotAvailableError) {
        throw new PartialFailure(
          registered.imageId,
          { ...props, ...amiOutputs(inputs, { ...facts, state: error.state, tags: appliedTags(inputs.tags) }) },
          [error.message],
        );
      }
      await deregisterImage(ec2, registered.imageId).catch((cleanupError: unknown) => {
        throw new PartialFailure(
          registered.imageId,
          { ...props, ...amiOutputs(inputs, { ...facts, state: 'unknown', tags: appliedTags(inputs.tags) }) },
          [`${reason(error)}; deregistering ${registered.imageId} failed too (${reason(cleanupError)})`],
        );
      });
      throw error;
    }
  },

  async read(ec2, id) {
    const image = await describeImage(ec2, imageId(id));
    return image && { state: image.state, description: image.description, tags: image.tags, name: image.name };
  },

  async remove(ec2, id, olds, signal) {
    const removed = await deregisterImage(ec2, imageId(id), signal);
    progress(amiLabel(olds.name), removed ? `deregistered ${id}` : `${id} was already gone`);
  },
};
