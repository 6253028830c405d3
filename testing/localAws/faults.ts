/** Injected failures: rules matched against each recorded request, each used up after `times` hits. */
import { FaultKind, FaultRule, InjectedFault, RecordedRequest } from './types';

type RuleOf<K extends FaultKind> = Extract<FaultRule, { kind: K }>;

/** Faults that decide the answer to the request itself. */
export type RequestFault = RuleOf<'status'> | RuleOf<'throttle'> | RuleOf<'reset'> | RuleOf<'answerLost'>;
/** Faults that change what happens to a created image, instance or snapshot. */
export type ResourceFault =
  RuleOf<'notFoundAfterCreate'> | RuleOf<'stuckPending'> | RuleOf<'imageFails'> | RuleOf<'snapshotFails'>;

class Injected implements InjectedFault {
  hits = 0;

  constructor(
    readonly rule: FaultRule,
    private readonly owner: FaultInjector,
  ) {}

  get exhausted(): boolean {
    return this.rule.times !== undefined && this.hits >= this.rule.times;
  }

  matches(request: RecordedRequest): boolean {
    const rule = this.rule;
    if (this.exhausted) return false;
    if (rule.service !== undefined && rule.service !== request.service) return false;
    if (rule.operation !== '*' && rule.operation !== request.operation) return false;
    return rule.match ? rule.match(request) : true;
  }

  remove(): void {
    this.owner.remove(this);
  }
}

function isKind<K extends FaultKind>(rule: FaultRule, kinds: readonly K[]): rule is RuleOf<K> {
  return (kinds as readonly FaultKind[]).includes(rule.kind);
}

export class FaultInjector {
  private rules: Injected[] = [];

  inject(rule: FaultRule): InjectedFault {
    const injected = new Injected(rule, this);
    this.rules.push(injected);
    return injected;
  }

  clear(): void {
    this.rules = [];
  }

  remove(fault: InjectedFault): void {
    this.rules = this.rules.filter((rule) => rule !== fault);
  }

  private take<K extends FaultKind>(request: RecordedRequest, kinds: readonly K[]): RuleOf<K> | undefined {
    for (const injected of this.rules) {
      const rule = injected.rule;
      if (isKind(rule, kinds) && injected.matches(request)) {
        injected.hits++;
        request.fault = rule.kind;
        return rule;
      }
    }
    return undefined;
  }

  /** A matching reset rule, used up. */
  takeReset(request: RecordedRequest): RuleOf<'reset'> | undefined {
    return this.take(request, ['reset'] as const);
  }

  /** A matching answerLost rule, used up: the request was carried out, its answer is dropped. */
  takeAnswerLost(request: RecordedRequest): RuleOf<'answerLost'> | undefined {
    return this.take(request, ['answerLost'] as const);
  }

  /** Total delay of every matching latency rule, each used up once, and what those rules hold it until. */
  takeLatency(request: RecordedRequest): { ms: number; until: Promise<unknown>[] } {
    let ms = 0;
    const until: Promise<unknown>[] = [];
    for (const injected of this.rules) {
      const rule = injected.rule;
      if (rule.kind === 'latency' && injected.matches(request)) {
        injected.hits++;
        ms += rule.ms;
        if (rule.until) until.push(rule.until);
      }
    }
    return { ms, until };
  }

  /** A matching status or throttle rule, used up. */
  takeAnswer(request: RecordedRequest): RuleOf<'status'> | RuleOf<'throttle'> | undefined {
    return this.take(request, ['status', 'throttle'] as const);
  }

  /** Called when a request creates an image, instance or snapshot: the matching rule of that kind, used up. */
  takeResourceFault<K extends ResourceFault['kind']>(request: RecordedRequest, kind: K): RuleOf<K> | undefined {
    return this.take(request, [kind]);
  }
}
