/**
 * What `ticket-surface doctor --surface jira|servicenow` reports, whichever the surface: each
 * check that passed, and each problem found with how to fix it. A surface's doctor only reads
 * (it never writes to the site); the command prints the report and exits non-zero when it holds
 * any problem.
 */

/** One thing a site lacks, and what an administrator does about it. */
export interface DoctorProblem {
  /** The check that found it (`credentials`, `statuses`, `webhook` ...). */
  check: string;
  /** What is wrong, in the site's own words (names, ids). */
  problem: string;
  /** How to fix it, on the site or in the service's configuration. */
  fix: string;
}

/** A surface doctor's findings. */
export interface DoctorReport {
  /** The surface's title (`Jira`, `ServiceNow`). */
  title: string;
  /** The site checked (its base URL; never a credential). */
  site: string;
  /** One line per check that passed. */
  passed: string[];
  problems: DoctorProblem[];
}

/** Collects a {@link DoctorReport} as the checks run. */
export class DoctorReportBuilder {
  private readonly report: DoctorReport;

  constructor(title: string, site: string) {
    this.report = { title, site, passed: [], problems: [] };
  }

  /** A check passed. */
  ok(check: string, detail: string): void {
    this.report.passed.push(`${check}: ${detail}`);
  }

  /** A check found a problem. */
  problem(check: string, problem: string, fix: string): void {
    this.report.problems.push({ check, problem, fix });
  }

  /** Number of problems found so far. */
  get problemCount(): number {
    return this.report.problems.length;
  }

  /** The report. */
  build(): DoctorReport {
    return this.report;
  }
}

/** Largest difference between the site's clock and ours that signatures and windows tolerate. */
export const CLOCK_SKEW_TOLERANCE_MS = 60_000;

/**
 * Checks the site's clock (its HTTP `Date` header) against ours: webhook timestamps, OAuth token
 * lifetimes and change windows assume the two agree within {@link CLOCK_SKEW_TOLERANCE_MS}.
 */
export function checkClockSkew(out: DoctorReportBuilder, siteDate: string | undefined, now: Date): void {
  const site = siteDate ? new Date(siteDate) : undefined;
  if (!site || Number.isNaN(site.getTime())) {
    out.problem('clock', 'the site sent no readable Date header', 'check that no proxy between the service and the site strips the Date header');
    return;
  }
  const skew = Math.round((now.getTime() - site.getTime()) / 1000);
  if (Math.abs(skew) * 1000 > CLOCK_SKEW_TOLERANCE_MS) {
    const way = skew > 0 ? 'ahead of' : 'behind';
    out.problem('clock', `this machine's clock is ${Math.abs(skew)} s ${way} the site's`, 'synchronise this machine with NTP (for example systemd-timesyncd or chrony)');
    return;
  }
  out.ok('clock', `within ${Math.abs(skew)} s of the site's`);
}

/** The report as text lines: the passed checks, then each problem with its fix, then a summary. */
export function renderDoctorReport(report: DoctorReport): string[] {
  const lines = [`${report.title} doctor: ${report.site}`];
  for (const p of report.passed) lines.push(`✔ ${p}`);
  for (const p of report.problems) lines.push(`✘ ${p.check}: ${p.problem}`, `    fix: ${p.fix}`);
  const n = report.problems.length;
  lines.push(n === 0 ? `no problems: ${report.title} is set up as the service needs` : `${n} problem${n === 1 ? '' : 's'} found`);
  return lines;
}
