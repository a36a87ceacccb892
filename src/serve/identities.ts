/**
 * The identities `azmi serve` can issue tokens for: the system-assigned one
 * (always there) and the user-assigned ones it was told about. With
 * `acceptAnyIdentity`, an unknown selector creates a new identity on the fly.
 *
 * Ids that were not given are derived deterministically (UUIDv5-style,
 * SHA-1 of a fixed namespace + tenant + selector), so the same selector gets
 * the same `oid`/`appid` on every start and every machine.
 *
 * @example
 * ```ts
 * const ids = new IdentityRegistry({ tenantId, identities: [{ clientId: "1111…" }] });
 * ids.resolve({ clientId: "1111…" });       // the user-assigned identity
 * ids.resolve({});                          // the system-assigned identity
 * ```
 */
import { createHash } from "node:crypto";

/** One identity the server issues tokens for. */
export interface ServedIdentity {
  /** Stable map key (`system` or `user:<clientId lower-case>`). */
  key: string;
  kind: "system" | "user";
  clientId: string;
  objectId: string;
  resourceId: string;
  name: string;
  /** For identities created from a request under `acceptAnyIdentity`: the selector that created them (forwarded as-is by the chain issuer). */
  selectedBy?: "clientId" | "objectId" | "resourceId";
}

/** A configured user-assigned identity (`ServeOptions.identities`). */
export interface IdentityConfig {
  clientId: string;
  objectId?: string;
  resourceId?: string;
  name?: string;
}

/** Which selector a request used; at most one is set. */
export interface RequestSelector {
  clientId?: string;
  objectId?: string;
  resourceId?: string;
}

export type ResolveResult = { ok: true; identity: ServedIdentity } | { ok: false; reason: "not-found" | "invalid" };

/** The fake subscription that owns the fake identities' resource ids. */
export const LOCAL_SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000a2a1";
const NAMESPACE = "azmi-serve-identity-v1";
/** Selector values longer than this are refused (ARM resource ids stay well below). */
const MAX_SELECTOR_LENGTH = 1024;
const SELECTOR_PATTERN = /^[A-Za-z0-9._~:/@()+,;=-]+$/;
/** Cap on identities created by `acceptAnyIdentity`, so a client cannot grow memory without bound. */
export const MAX_IDENTITIES = 10_000;

/**
 * A UUID (version 5 layout) derived from `name`: the same name always gives the same id.
 *
 * @example
 * ```ts
 * stableUuid("tenant|system|client"); // "3f1c…-…-5…-…"
 * ```
 */
export function stableUuid(name: string): string {
  const h = createHash("sha1").update(NAMESPACE).update("\0").update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

function userResourceId(name: string): string {
  return `/subscriptions/${LOCAL_SUBSCRIPTION_ID}/resourcegroups/azmi-local/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

/** Lookup table of identities; lookups are case-insensitive like Entra's. */
export class IdentityRegistry {
  readonly system: ServedIdentity;
  private readonly byClientId = new Map<string, ServedIdentity>();
  private readonly byObjectId = new Map<string, ServedIdentity>();
  private readonly byResourceId = new Map<string, ServedIdentity>();
  private readonly tenantId: string;
  private readonly acceptAny: boolean;

  constructor(options: { tenantId: string; identities?: IdentityConfig[]; acceptAnyIdentity?: boolean }) {
    this.tenantId = options.tenantId;
    this.acceptAny = options.acceptAnyIdentity === true;
    this.system = {
      key: "system",
      kind: "system",
      clientId: stableUuid(`${this.tenantId}|system|client`),
      objectId: stableUuid(`${this.tenantId}|system|object`),
      resourceId: `/subscriptions/${LOCAL_SUBSCRIPTION_ID}/resourceGroups/azmi-local/providers/Microsoft.Compute/virtualMachines/azmi-local`,
      name: "system-assigned",
    };
    this.add(this.system);
    for (const config of options.identities ?? []) this.add(this.fromConfig(config));
  }

  /** Every identity known now (system first). */
  list(): ServedIdentity[] {
    return [...new Set(this.byClientId.values())];
  }

  /**
   * The identity a request selects: none ⇒ system-assigned; an unknown
   * selector ⇒ `not-found`, or a new identity under `acceptAnyIdentity`.
   */
  resolve(selector: RequestSelector): ResolveResult {
    const { clientId, objectId, resourceId } = selector;
    if (clientId === undefined && objectId === undefined && resourceId === undefined) {
      return { ok: true, identity: this.system };
    }
    const value = (clientId ?? objectId ?? resourceId)!;
    if (value.length === 0 || value.length > MAX_SELECTOR_LENGTH || !SELECTOR_PATTERN.test(value)) {
      return { ok: false, reason: "invalid" };
    }
    const lower = value.toLowerCase();
    const found =
      clientId !== undefined
        ? this.byClientId.get(lower)
        : objectId !== undefined
          ? this.byObjectId.get(lower)
          : this.byResourceId.get(lower);
    if (found) return { ok: true, identity: found };
    if (!this.acceptAny || this.byClientId.size >= MAX_IDENTITIES) return { ok: false, reason: "not-found" };
    const kindOf = clientId !== undefined ? "client" : objectId !== undefined ? "object" : "resource";
    const seed = `${this.tenantId}|user|${kindOf}|${lower}`;
    const identity = this.fromConfig({
      clientId: clientId ?? stableUuid(`${seed}|client`),
      objectId: objectId ?? stableUuid(`${seed}|object`),
      resourceId: resourceId,
    });
    identity.selectedBy = clientId !== undefined ? "clientId" : objectId !== undefined ? "objectId" : "resourceId";
    this.add(identity);
    return { ok: true, identity };
  }

  private fromConfig(config: IdentityConfig): ServedIdentity {
    const clientId = config.clientId;
    // The whole client id: a prefix gave ids that share it (…-0001, …-0002, or
    // any id a caller makes up under acceptAnyIdentity) the same xms_mirid.
    const name = config.name ?? `azmi-${clientId.toLowerCase()}`;
    return {
      key: `user:${clientId.toLowerCase()}`,
      kind: "user",
      clientId,
      objectId: config.objectId ?? stableUuid(`${this.tenantId}|user|${clientId.toLowerCase()}|object`),
      resourceId: config.resourceId ?? userResourceId(name),
      name,
    };
  }

  /** Register an identity; a selector already taken keeps selecting its first owner (never silently remapped). */
  private add(identity: ServedIdentity): void {
    const claim = (map: Map<string, ServedIdentity>, value: string) => {
      const k = value.toLowerCase();
      if (!map.has(k)) map.set(k, identity);
    };
    claim(this.byClientId, identity.clientId);
    claim(this.byObjectId, identity.objectId);
    claim(this.byResourceId, identity.resourceId);
  }
}
