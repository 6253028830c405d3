/** What every EC2 action handler receives, and the id checks they share. */
import { AwsError } from './errors';
import { FaultInjector } from './faults';
import { QueryParams } from './ec2Params';
import { LocalAwsState, ImageRecord, InstanceRecord } from './state';
import { RecordedRequest } from './types';
import { XmlContent } from './xml';

export interface Ec2Context {
  state: LocalAwsState;
  params: QueryParams;
  request: RecordedRequest;
  faults: FaultInjector;
}

/** Returns the children of the `<ActionResponse>` element, after `<requestId>`. */
export type Ec2Action = (context: Ec2Context) => XmlContent;

const IMAGE_ID = /^(ami|aki|ari)-([0-9a-f]{8}|[0-9a-f]{17})$/;
const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

function listed(ids: readonly string[]): string {
  return ids.join(', ');
}

export function checkImageId(id: string): void {
  if (!IMAGE_ID.test(id))
    throw new AwsError(400, 'InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`);
}

export function checkInstanceId(id: string): void {
  if (!INSTANCE_ID.test(id)) throw new AwsError(400, 'InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
}

export function imagesNotFound(ids: readonly string[]): AwsError {
  return new AwsError(
    400,
    'InvalidAMIID.NotFound',
    ids.length === 1 ? `The image id '[${ids[0]}]' does not exist` : `The image ids '[${listed(ids)}]' do not exist`,
  );
}

export function instancesNotFound(ids: readonly string[]): AwsError {
  return new AwsError(
    400,
    'InvalidInstanceID.NotFound',
    ids.length === 1 ? `The instance ID '${ids[0]}' does not exist` : `The instance IDs '${listed(ids)}' do not exist`,
  );
}

/**
 * The image an id names, or undefined when EC2 would not know it (never registered, or still hidden
 * by a notFoundAfterCreate fault). Deregistered images are returned; callers decide.
 */
export function lookUpImage(state: LocalAwsState, id: string): ImageRecord | undefined {
  checkImageId(id);
  const image = state.images.get(id);
  if (!image || state.isHidden(id, true)) return undefined;
  return image;
}

export function lookUpInstance(state: LocalAwsState, id: string): InstanceRecord | undefined {
  checkInstanceId(id);
  const instance = state.instances.get(id);
  if (!instance || state.instanceGone(instance) || state.isHidden(id, true)) return undefined;
  return instance;
}

/**
 * Page through a list with MaxResults/NextToken; the token is the opaque start offset. Describe
 * calls that take explicit ids refuse MaxResults with them (`idsGiven`).
 */
export function paginate<T>(
  context: Ec2Context,
  list: readonly T[],
  idsGiven: boolean,
  largestPage = 1000,
): { page: readonly T[]; nextToken?: string } {
  const { params } = context;
  if (params.MaxResults === undefined && params.NextToken === undefined) return { page: list };
  if (idsGiven)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'The parameter MaxResults cannot be used with an explicit list of ids',
    );
  const maxResults = params.MaxResults === undefined ? largestPage : Number(params.MaxResults);
  if (!Number.isInteger(maxResults) || maxResults < 5 || maxResults > largestPage) {
    throw new AwsError(
      400,
      'InvalidParameterValue',
      `Value ( ${params.MaxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and ${largestPage}.`,
    );
  }
  const start =
    params.NextToken === undefined
      ? 0
      : Number(
          Buffer.from(params.NextToken, 'base64url')
            .toString('utf8')
            .replace(/^offset:/, ''),
        );
  if (!Number.isInteger(start) || start < 0)
    throw new AwsError(400, 'InvalidPaginationToken', 'The specified pagination token is not valid');
  const end = start + maxResults;
  return {
    page: list.slice(start, end),
    nextToken: end < list.length ? Buffer.from(`offset:${end}`).toString('base64url') : undefined,
  };
}
