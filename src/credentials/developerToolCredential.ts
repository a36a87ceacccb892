/**
 * Shared shape of the developer-tool links (Azure CLI, Azure PowerShell,
 * Azure Developer CLI): the tool must be on `PATH` (checked without
 * spawning), then `@azure/identity` runs it.
 *
 * @example
 * ```ts
 * class AzureCliCredential extends DeveloperToolCredential { ... }
 * ```
 */
import { DelegatedCredential, type Unavailability } from "./delegated";
import { findExecutable } from "./findExecutable";
import { checkOptionalString, checkTenantId, shownValue } from "./validation";

export interface DeveloperToolCredentialOptions {
  /** Tenant to ask the tool for. */
  tenantId?: string;
  /** Extra tenants a token may be requested for (`*` = any). */
  additionallyAllowedTenants?: string[];
  /** How long the tool may run, in ms (default: `@azure/identity`'s). */
  processTimeoutInMs?: number;
  /** Environment whose `PATH` is searched (default `process.env`). The tool itself runs with `process.env`. */
  env?: NodeJS.ProcessEnv;
}

export abstract class DeveloperToolCredential extends DelegatedCredential {
  /** Program names to look for, in order (e.g. `["pwsh", "powershell"]`). */
  protected abstract readonly programs: readonly string[];
  /** How to fix a missing tool, one sentence. */
  protected abstract readonly installHint: string;
  protected readonly toolOptions: DeveloperToolCredentialOptions;
  private found?: string | null;

  constructor(options: DeveloperToolCredentialOptions = {}) {
    super();
    options ??= {}; // null as @azure/identity takes it: no options
    checkOptionalString(options.tenantId, "tenantId");
    if (options.tenantId) checkTenantId(options.tenantId, "tenantId");
    if (
      options.processTimeoutInMs !== undefined &&
      (typeof options.processTimeoutInMs !== "number" || !Number.isFinite(options.processTimeoutInMs) || options.processTimeoutInMs <= 0)
    ) {
      throw new RangeError(`processTimeoutInMs must be a positive number of milliseconds; got ${shownValue(options.processTimeoutInMs)}.`);
    }
    this.toolOptions = options;
  }

  /** Full path of the tool, found once per credential. */
  protected program(): string | undefined {
    if (this.found === undefined) {
      const env = this.toolOptions.env ?? process.env;
      this.found = null;
      for (const name of this.programs) {
        const hit = findExecutable(name, env);
        if (hit) {
          this.found = hit;
          break;
        }
      }
    }
    return this.found ?? undefined;
  }

  override describe(): string {
    const program = this.program();
    return program ? `${program}` : `unavailable: ${this.programs.join("/")} not found on PATH`;
  }

  protected availability(): Unavailability | undefined {
    if (this.program()) return undefined;
    return { reason: `${this.programs.join("/")} not found on PATH`, hint: this.installHint };
  }

  /** Options for the `@azure/identity` constructor. */
  protected innerOptions(): Omit<DeveloperToolCredentialOptions, "env"> {
    const { env: _env, ...rest } = this.toolOptions;
    void _env;
    return rest;
  }
}
