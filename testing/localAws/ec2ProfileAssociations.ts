/**
 * An instance's IAM instance profile changed in place, as EC2 does it: AssociateIamInstanceProfile
 * (none associated yet; running or stopped), ReplaceIamInstanceProfileAssociation (the active
 * association of a running instance; a new association id), DisassociateIamInstanceProfile and
 * DescribeIamInstanceProfileAssociations (filters instance-id and state). Associations take effect
 * at once: Associate and Replace answer `associating`, Disassociate `disassociating`, and
 * Describe shows the instance's current association `associated`.
 */
import { randomBytes } from 'crypto';
import { Ec2Action, paginate } from './ec2Context';
import { checkInstanceProfile, namedInstances, profileIdOf } from './ec2Instances';
import { filters, passesFilters, required, scalarList } from './ec2Params';
import { AwsError } from './errors';
import { InstanceRecord, LocalAwsState } from './state';
import { el, items, XmlContent } from './xml';

type QueryParams = Readonly<Record<string, string>>;

function newAssociationId(): string {
  return `iip-assoc-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** The ARN of the profile a request names (checked to exist first). */
function requestedProfileArn(state: LocalAwsState, params: QueryParams): string {
  const arn = params['IamInstanceProfile.Arn'];
  const name = params['IamInstanceProfile.Name'];
  if (arn === undefined && name === undefined)
    throw new AwsError(400, 'MissingParameter', 'The request must contain the parameter IamInstanceProfile');
  checkInstanceProfile(state, params);
  return arn ?? `arn:aws:iam::${state.config.accountId}:instance-profile/${name}`;
}

function associationXml(instance: InstanceRecord, state: string, associationId?: string): XmlContent[] {
  const arn = instance.settings.iamInstanceProfileArn ?? '';
  return [
    el('associationId', associationId ?? instance.settings.iamInstanceProfileAssociationId ?? ''),
    el('instanceId', instance.instanceId),
    el('iamInstanceProfile', [el('arn', arn), el('id', profileIdOf(arn))]),
    el('state', state),
    el('timestamp', new Date().toISOString()),
  ];
}

function byAssociation(state: LocalAwsState, associationId: string): InstanceRecord {
  const instance = [...state.instances.values()].find(
    (each) => each.settings.iamInstanceProfileAssociationId === associationId && live(state, each),
  );
  if (!instance)
    throw new AwsError(400, 'InvalidAssociationID.NotFound', `An association ID '${associationId}' does not exist.`);
  return instance;
}

function live(state: LocalAwsState, instance: InstanceRecord): boolean {
  const current = state.instanceState(instance).state;
  return current !== 'shutting-down' && current !== 'terminated';
}

export const associateIamInstanceProfile: Ec2Action = (context) => {
  const { state, params } = context;
  const [instance] = namedInstances(state, [required(params, 'InstanceId')]);
  const arn = requestedProfileArn(state, params);
  const current = state.instanceState(instance).state;
  if (current !== 'running' && current !== 'stopped')
    throw new AwsError(
      400,
      'IncorrectInstanceState',
      `The instance '${instance.instanceId}' is not in the 'running' or 'stopped' states.`,
    );
  if (instance.settings.iamInstanceProfileArn !== undefined)
    throw new AwsError(400, 'IncorrectState', `There is an existing association for instance ${instance.instanceId}`);
  instance.settings.iamInstanceProfileArn = arn;
  instance.settings.iamInstanceProfileAssociationId = newAssociationId();
  return el('iamInstanceProfileAssociation', associationXml(instance, 'associating'));
};

export const replaceIamInstanceProfileAssociation: Ec2Action = (context) => {
  const { state, params } = context;
  const associationId = required(params, 'AssociationId');
  const arn = requestedProfileArn(state, params);
  const instance = byAssociation(state, associationId);
  if (state.instanceState(instance).state !== 'running')
    throw new AwsError(400, 'IncorrectState', `The association ${associationId} is not the active association`);
  instance.settings.iamInstanceProfileArn = arn;
  instance.settings.iamInstanceProfileAssociationId = newAssociationId();
  return el('iamInstanceProfileAssociation', associationXml(instance, 'associating'));
};

export const disassociateIamInstanceProfile: Ec2Action = (context) => {
  const { state, params } = context;
  const associationId = required(params, 'AssociationId');
  const instance = byAssociation(state, associationId);
  const answer = associationXml(instance, 'disassociating');
  instance.settings.iamInstanceProfileArn = undefined;
  instance.settings.iamInstanceProfileAssociationId = undefined;
  return el('iamInstanceProfileAssociation', answer);
};

const ASSOCIATION_FILTERS = ['instance-id', 'state'];

export const describeIamInstanceProfileAssociations: Ec2Action = (context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'AssociationId');
  if (ids.length > 0 && filters(params).length > 0)
    throw new AwsError(400, 'InvalidParameterCombination', 'The parameter AssociationIds cannot be used with Filters');
  const found = ids.length > 0 ? ids.map((id) => byAssociation(state, id)) : [...state.instances.values()];
  const list = found.filter(
    (instance) =>
      instance.settings.iamInstanceProfileAssociationId !== undefined &&
      live(state, instance) &&
      passesFilters(
        filters(params),
        { 'instance-id': [instance.instanceId], state: ['associated'] },
        new Map(),
        ASSOCIATION_FILTERS,
      ),
  );
  const { page, nextToken } = paginate(context, list, ids.length > 0);
  return [
    items('iamInstanceProfileAssociationSet', page, (instance) => associationXml(instance, 'associated')),
    ...(nextToken === undefined ? [] : [el('nextToken', nextToken)]),
  ];
};
