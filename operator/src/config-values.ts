/**
 * Checks of single operator settings whose shape is more than a number or a pattern: the
 * WhatsApp Web version, the allowed worker repositories, the simulator pair, per-clinic days.
 * Each reports through `problem` and returns what config.ts keeps.
 */
import { CLINIC_SEND_BUDGET_LIMITS, parseWaWebVersion } from '../../contract/index.ts';
import { imageRepository, REPOSITORY } from './worker-image.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** A Secret name, in which `{clinicId}` stands for the channel's clinic. */
export const SECRET_NAME = /^([a-z0-9.-]|\{clinicId\}|\{channelId\})+$/;
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** As the worker accepts WA_CLINIC_STREAM_RETENTION_DAYS. */
export const MAX_RETENTION_DAYS = 3_650;
export const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
export const PREFIX = /^[A-Za-z0-9!_.*()-]+(\/[A-Za-z0-9!_.*()-]+)*$/;
export const QUANTITY =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]+))?$/;

/** Three positive integers ("2.3000.1023223821"), checked as the worker checks WA_WEB_VERSION. */
export function waWebVersion(
  raw: string | undefined,
  source: string,
  problem: (message: string) => void,
): string | undefined {
  if (raw === undefined) return undefined;
  const parsed = parseWaWebVersion(raw);
  if (!parsed.ok) problem(`${source}=${parsed.error}`);
  return raw;
}

/** The allow-list of worker repositories; unset: the repository of the operator's worker image. */
export function allowedRepositories(
  raw: string | undefined,
  image: string,
  source: string,
  problem: (message: string) => void,
): string[] {
  if (raw === undefined) return image ? [imageRepository(image)] : [];
  const repositories = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of repositories)
    if (!REPOSITORY.test(r))
      problem(`${source}: "${r}" is not a repository (host/path, without tag, digest or wildcard)`);
  if (repositories.length === 0) problem(`${source} must name at least one repository`);
  return repositories;
}

/** The simulator's endpoint and trust root: both or neither, as the worker requires. */
export function simulator(
  url: string | undefined,
  trustRoot: string | undefined,
  [urlSource, rootSource]: [string, string],
  problem: (message: string) => void,
): { url: string; trustRoot: string } | undefined {
  if (url === undefined && trustRoot === undefined) return undefined;
  if (url === undefined || trustRoot === undefined) {
    problem(`${urlSource} and ${rootSource} go together (the protocol simulator, tests only)`);
    return undefined;
  }
  return { url, trustRoot };
}

/** `{"clinic-a": 30}`: clinic ids to whole days (numbers or digit strings, as YAML gives either). */
export function clinicDays(
  raw: string | undefined,
  source: string,
  problem: (message: string) => void,
): Record<string, number> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const entries =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? Object.entries(parsed)
      : undefined;
  const days = entries?.map(
    ([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v] as const,
  );
  if (
    !days ||
    !days.every(
      ([k, v]) =>
        DNS_LABEL.test(k) && Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_RETENTION_DAYS,
    )
  ) {
    problem(
      `${source} must be a JSON object of clinic ids to days (1-${MAX_RETENTION_DAYS}), such as {"clinic-a":30}`,
    );
    return {};
  }
  return Object.fromEntries(days) as Record<string, number>;
}

export interface SendBudget {
  ratePerMinute: number;
  burst: number;
}

/**
 * WA_CLINIC_SEND_BUDGET: `{"*": {...}, "clinic-a": {...}}`, a clinic's own budget or the one for
 * every clinic (`*`), each `{ratePerMinute, burst}` within the contract's bounds.
 */
export function clinicSendBudgets(
  raw: string | undefined,
  source: string,
  problem: (message: string) => void,
): Record<string, SendBudget> {
  if (raw === undefined) return {};
  const shape = `${source} must be a JSON object of clinic ids (or "*") to {"ratePerMinute":1-${CLINIC_SEND_BUDGET_LIMITS.ratePerMinute[1]},"burst":1-${CLINIC_SEND_BUDGET_LIMITS.burst[1]}}, such as {"*":{"ratePerMinute":60,"burst":10}}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problem(shape);
    return {};
  }
  const budgets: Record<string, SendBudget> = {};
  for (const [clinic, value] of Object.entries(parsed)) {
    const v = value as Record<string, unknown> | null;
    const fields = v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : undefined;
    const within = (name: keyof SendBudget) => {
      const n = v?.[name];
      const [min, max] = CLINIC_SEND_BUDGET_LIMITS[name];
      return Number.isInteger(n) && (n as number) >= min && (n as number) <= max;
    };
    if (
      !(clinic === '*' || DNS_LABEL.test(clinic)) ||
      !fields ||
      fields.some((f) => f !== 'ratePerMinute' && f !== 'burst') ||
      !within('ratePerMinute') ||
      !within('burst')
    ) {
      problem(shape);
      return {};
    }
    budgets[clinic] = { ratePerMinute: v!.ratePerMinute as number, burst: v!.burst as number };
  }
  return budgets;
}
