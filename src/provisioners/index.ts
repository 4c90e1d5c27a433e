/**
 * The provisioners a bundle step can name: `exec`, `opentofu` and `terraform`.
 */
import { ExecProvisioner } from './exec.ts';
import { OpenTofuProvisioner, type StateBackend } from './opentofu.ts';
import type { Provisioner } from './types.ts';

export { ExecProvisioner, ExecConfigSchema, parseExecConfig, DEFAULT_EXEC_TIMEOUT_SECONDS, type ExecConfig } from './exec.ts';
export { OpenTofuProvisioner, type OpenTofuProvisionerOptions, type StateBackend } from './opentofu.ts';
export { ProcessPlanScanner, parseScanners, runScanners, severityFor } from './scanners.ts';
export { inheritedEnv, stepEnv, MD_ENV, type Provisioner, type StepContext, type PlanResult, type ApplyResult } from './types.ts';

/** Options for {@link createProvisioners}. */
export interface ProvisionerSetOptions {
  /** OpenTofu binary (path or name on PATH), e.g. from `TOFU_BIN`; default `tofu`. */
  tofuBin?: string;
  /** Terraform binary, e.g. from `TERRAFORM_BIN`; default `terraform`. */
  terraformBin?: string;
  /** The service environment (only PATH/HOME/LANG/TS_TARGET_* reach steps). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Where OpenTofu/Terraform state lives (default: local files per package and step). */
  stateBackend?: StateBackend;
}

/** The standard provisioner map for the DeploymentRunner (src/engine/deployments.ts): `exec`, `opentofu`, `terraform`. */
export function createProvisioners(opts: ProvisionerSetOptions = {}): Record<string, Provisioner> {
  return {
    exec: new ExecProvisioner({ baseEnv: opts.baseEnv }),
    opentofu: new OpenTofuProvisioner({ binary: opts.tofuBin ?? 'tofu', name: 'opentofu', baseEnv: opts.baseEnv, backend: opts.stateBackend }),
    terraform: new OpenTofuProvisioner({ binary: opts.terraformBin ?? 'terraform', name: 'terraform', baseEnv: opts.baseEnv, backend: opts.stateBackend }),
  };
}
