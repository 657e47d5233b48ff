// Synthetic signed targets for the planner's tests: archives and patches of one app, and a plan from 1.0.
import type { AppTarget, PlanInput } from '../../src/planner.js';
import { planUpdate } from '../../src/planner.js';

export const app = 'app';

export function archive(version: string, length = 1000, extra: Partial<AppTarget> = {}): AppTarget {
  return {
    filename: `${app}-${version}.tar.gz`,
    version,
    kind: 'archive',
    length,
    required: false,
    user: null,
    ...extra,
  };
}

export function patch(version: string, length = 100): AppTarget {
  return {
    filename: `${app}-${version}.patch`,
    version,
    kind: 'patch',
    length,
    required: false,
    user: null,
    tarSize: 5000,
    tarHash: '0'.repeat(64),
  };
}

export function plan(targets: AppTarget[], overrides: Partial<PlanInput> = {}) {
  return planUpdate({ currentVersion: '1.0', targets, currentArchiveCached: true, ...overrides });
}
