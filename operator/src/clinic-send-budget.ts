/**
 * The send budget a clinic's channels share (worker/src/pacing/clinic-budget.ts keeps its state
 * in the clinic's send-log bucket): the clinic's own from WA_CLINIC_SEND_BUDGET, else the one
 * for every clinic (`*`), else the worker's default. Passed to each worker only when it differs
 * from that default, so a platform on the defaults changes no pod spec.
 */
import { DEFAULT_CLINIC_SEND_BUDGET } from '../../contract/index.ts';
import type { OperatorConfig } from './config.ts';

export function clinicSendBudgetWorkerEnv(
  budgets: OperatorConfig['clinicSendBudgets'],
  clinicId: string,
): Record<string, string> {
  const budget = budgets[clinicId] ?? budgets['*'];
  if (
    !budget ||
    (budget.ratePerMinute === DEFAULT_CLINIC_SEND_BUDGET.ratePerMinute &&
      budget.burst === DEFAULT_CLINIC_SEND_BUDGET.burst)
  )
    return {};
  return {
    WA_CLINIC_SEND_BUDGET: JSON.stringify({ ratePerMinute: budget.ratePerMinute, burst: budget.burst }),
  };
}
