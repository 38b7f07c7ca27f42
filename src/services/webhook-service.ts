import { TesseraError, validationError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { decideWebhooks } from "../core/policy.js";
import { isSubscribable, type SubscribableEventType, webhookPayload } from "../core/webhook-events.js";
import { newWebhookSecret } from "../core/webhook-signature.js";
import { isPublicAddress, webhookUrlProblem } from "../core/webhook-target.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import { lockOrgForQuota } from "../store/quotas-repository.js";
import {
  countEndpoints,
  type DeliveryState,
  deleteEndpoint,
  findDelivery,
  findEndpoint,
  insertEndpoint,
  insertStandaloneDelivery,
  listDeliveries,
  listEndpoints,
  requeueDelivery,
  updateEndpoint,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from "../store/webhooks-repository.js";
import { actorRef, type OrgAccess, policyActor } from "./actor.js";
import { auditEvent } from "./audit.js";
import { enforce } from "./authority.js";
import type { QuotaGuard } from "./quotas.js";
import type { RequestMeta } from "./request-meta.js";
import type { WebhookSecretBox } from "./webhook-secrets.js";
import { resolveAll } from "./webhook-sender.js";

export interface WebhookInput {
  url: string;
  description?: string | null | undefined;
  eventTypes?: readonly string[] | undefined;
  enabled?: boolean | undefined;
}

export type WebhookPatch = Partial<WebhookInput>;

export interface WebhookServiceOptions {
  box: WebhookSecretBox;
  quotas: QuotaGuard;
  /** `TESSERA_WEBHOOK_ALLOW_PRIVATE=true`: loopback and private targets allowed (tests, closed networks). */
  allowPrivate: boolean;
  /** Called after a commit that queued work (a test send, a retry): the dispatcher looks at once. */
  kick?: (() => void) | undefined;
}

const notFound = () => new TesseraError("not_found", "No such webhook");

/** The webhook endpoints of an organisation and their delivery log (SPEC §10): one transaction per use case. */
export class WebhookService {
  readonly #store: Store;
  readonly #options: WebhookServiceOptions;

  constructor(store: Store, options: WebhookServiceOptions) {
    this.#store = store;
    this.#options = options;
  }

  async list(access: OrgAccess): Promise<WebhookEndpointRecord[]> {
    enforce(decideWebhooks(policyActor(access), "read"));
    return listEndpoints(this.#store.db, access.org.id);
  }

  async get(access: OrgAccess, id: string): Promise<WebhookEndpointRecord> {
    enforce(decideWebhooks(policyActor(access), "read"));
    const endpoint = await findEndpoint(this.#store.db, access.org.id, id);
    if (!endpoint) throw notFound();
    return endpoint;
  }

  /** Creates an endpoint; its `whsec_…` secret is returned here only. */
  async create(
    access: OrgAccess,
    input: WebhookInput,
    meta: RequestMeta,
  ): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    enforce(decideWebhooks(policyActor(access), "write"));
    const url = await this.#checkedUrl(input.url);
    const eventTypes = checkedTypes(input.eventTypes ?? []);
    const secret = newWebhookSecret();
    const now = Date.now();
    const endpoint: WebhookEndpointRecord = {
      id: newId("webhook"),
      orgId: access.org.id,
      url,
      description: input.description?.trim() || null,
      eventTypes,
      enabled: input.enabled ?? true,
      status: "active",
      secretEnc: this.#options.box.seal(secret),
      failingSince: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.#store.db.transaction().execute(async (trx) => {
      await lockOrgForQuota(trx, this.#store.dialect, access.org.id);
      const refusal = this.#options.quotas.refusal("webhooksPerOrganization", await countEndpoints(trx, access.org.id));
      if (refusal) throw refusal;
      await insertEndpoint(trx, endpoint);
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          access.org.id,
          "webhook.created",
          targetOf(endpoint),
          { url, eventTypes, enabled: endpoint.enabled },
          now,
        ),
      ]);
    });
    return { endpoint, secret };
  }

  async update(access: OrgAccess, id: string, patch: WebhookPatch, meta: RequestMeta): Promise<WebhookEndpointRecord> {
    enforce(decideWebhooks(policyActor(access), "write"));
    const url = patch.url === undefined ? undefined : await this.#checkedUrl(patch.url);
    const eventTypes = patch.eventTypes === undefined ? undefined : checkedTypes(patch.eventTypes);
    const now = Date.now();
    return this.#store.db.transaction().execute(async (trx) => {
      const before = await findEndpoint(trx, access.org.id, id, true);
      if (!before) throw notFound();
      const after: WebhookEndpointRecord = {
        ...before,
        url: url ?? before.url,
        description: patch.description === undefined ? before.description : patch.description?.trim() || null,
        eventTypes: eventTypes ?? before.eventTypes,
        enabled: patch.enabled ?? before.enabled,
        updatedAt: now,
      };
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      for (const key of ["url", "description", "eventTypes", "enabled"] as const) {
        if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changes[key] = { from: before[key], to: after[key] };
      }
      if (Object.keys(changes).length === 0) return before;
      await updateEndpoint(trx, id, {
        url: after.url,
        description: after.description,
        eventTypes: after.eventTypes,
        enabled: after.enabled,
        updatedAt: now,
      });
      await insertEvents(trx, [
        auditEvent(meta, access.actor, access.org.id, "webhook.updated", targetOf(after), { changes }, now),
      ]);
      return after;
    });
  }

  /** Deletes the endpoint and its delivery log; undelivered events for it are dropped. */
  async remove(access: OrgAccess, id: string, meta: RequestMeta): Promise<void> {
    enforce(decideWebhooks(policyActor(access), "write"));
    await this.#store.db.transaction().execute(async (trx) => {
      const endpoint = await findEndpoint(trx, access.org.id, id, true);
      if (!endpoint) throw notFound();
      await deleteEndpoint(trx, id);
      await insertEvents(trx, [
        auditEvent(meta, access.actor, access.org.id, "webhook.deleted", targetOf(endpoint), { url: endpoint.url }),
      ]);
    });
  }

  async deliveries(
    access: OrgAccess,
    id: string,
    page: { before?: string | undefined; limit?: number | undefined; state?: DeliveryState | undefined },
  ): Promise<{ items: WebhookDeliveryRecord[]; nextCursor: string | null }> {
    const endpoint = await this.get(access, id);
    const limit = Math.min(page.limit ?? 50, 100);
    const items = await listDeliveries(this.#store.db, endpoint.id, { before: page.before, limit: limit + 1, state: page.state });
    const shown = items.slice(0, limit);
    return { items: shown, nextCursor: items.length > limit ? shown[shown.length - 1]!.id : null };
  }

  /** Sends the delivery again as soon as possible, whatever its state (a replay: outside the event order). */
  async retry(access: OrgAccess, deliveryId: string): Promise<WebhookDeliveryRecord> {
    enforce(decideWebhooks(policyActor(access), "write"));
    const now = Date.now();
    const delivery = await this.#store.db.transaction().execute(async (trx) => {
      const found = await findDelivery(trx, access.org.id, deliveryId);
      if (!found) throw new TesseraError("not_found", "No such delivery");
      if (found.state === "pending" && found.leaseId !== null) {
        throw new TesseraError("invalid_state", "This delivery is being sent right now");
      }
      await requeueDelivery(trx, found.id, now);
      return (await findDelivery(trx, access.org.id, deliveryId))!;
    });
    this.#options.kick?.();
    return delivery;
  }

  /** Queues a `webhook.test` event for this endpoint only (sent even when the endpoint filters types). */
  async test(access: OrgAccess, id: string): Promise<WebhookDeliveryRecord> {
    enforce(decideWebhooks(policyActor(access), "write"));
    const endpoint = await this.get(access, id);
    const now = Date.now();
    const eventId = newId("event");
    const payload = webhookPayload("webhook.test", {
      id: eventId,
      at: now,
      orgId: access.org.id,
      actor: actorRef(access.actor),
      target: targetOf(endpoint),
      details: { message: "A test event from Tessera" },
    });
    const delivery = await insertStandaloneDelivery(this.#store.db, {
      id: newId("delivery"),
      endpointId: endpoint.id,
      orgId: access.org.id,
      eventId,
      type: "webhook.test",
      payload: JSON.stringify(payload),
      now,
    });
    this.#options.kick?.();
    return delivery;
  }

  /** The URL as stored, after the shape rules and, unless private targets are allowed, the address check. */
  async #checkedUrl(raw: string): Promise<string> {
    const problem = webhookUrlProblem(raw);
    if (problem) throw validationError("url", problem);
    const url = new URL(raw);
    if (this.#options.allowPrivate) return url.href;
    let addresses: string[];
    try {
      addresses = await resolveAll(url.hostname);
    } catch {
      throw validationError("url", `${url.hostname} does not resolve`);
    }
    const blocked = addresses.find((a) => !isPublicAddress(a));
    if (blocked !== undefined || addresses.length === 0) {
      throw validationError("url", "must not point at a loopback, private, link-local or metadata address");
    }
    return url.href;
  }
}

function targetOf(e: WebhookEndpointRecord) {
  return { type: "webhook", id: e.id, name: e.url };
}

function checkedTypes(types: readonly string[]): SubscribableEventType[] {
  const unique = [...new Set(types)];
  const checked: SubscribableEventType[] = [];
  unique.forEach((t, i) => {
    if (!isSubscribable(t)) throw validationError(`eventTypes[${i}]`, `unknown event type ${t}`);
    checked.push(t);
  });
  return checked.sort();
}
