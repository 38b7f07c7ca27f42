import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateToken } from "../../src/core/token-format.js";
import { dialects } from "../support/databases.js";
import { call, createToken, rootToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

/** GitHub secret scanning partner endpoint (issue 14 part 3, SPEC §11), with keys this test generates and serves. */

interface Signer {
  id: string;
  privateKey: KeyObject;
  publicPem: string;
}

function signer(id: string): Signer {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { id, privateKey, publicPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

describe.each(await dialects())("GitHub secret scanning on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let keysServer: Server;
  let keyFetches = 0;
  const current = signer("key-current");
  const unpublished = signer("key-unpublished");
  const published: Signer[] = [current];

  beforeAll(async () => {
    keysServer = createServer((_req, res) => {
      keyFetches++;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          public_keys: published.map((s, i) => ({ key_identifier: s.id, key: s.publicPem, is_current: i === 0 })),
        }),
      );
    });
    await new Promise<void>((resolve) => keysServer.listen(0, "127.0.0.1", resolve));
    const { port } = keysServer.address() as AddressInfo;
    t = await startTestApp(dialect, { githubKeysUrl: `http://127.0.0.1:${port}/meta/public_keys/secret_scanning` });
    w = await seedWorld(t.app);
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => keysServer?.close(resolve));
  });

  const org = () => `/v1/orgs/${w.orgId}`;
  const alert = (token: string) => [
    { token, type: "tessera_token", url: "https://github.com/octo/repo/blob/abc/config.env", source: "content" },
  ];
  const post = (body: unknown, by: Signer | null = current, headers: Record<string, string> = {}) => {
    const raw = JSON.stringify(body);
    const signature = by ? sign("sha256", Buffer.from(raw), by.privateKey).toString("base64") : undefined;
    return t.app.inject({
      method: "POST",
      url: "/v1/secret-scanning/github",
      headers: {
        "content-type": "application/json",
        ...(by ? { "github-public-key-identifier": by.id, "github-public-key-signature": signature! } : {}),
        ...headers,
      },
      payload: raw,
    });
  };
  const leakedEvents = (tokenId: string) =>
    t.tessera.store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("target_id", "=", tokenId)
      .where("action", "=", "token.leaked")
      .execute();
  let root = "";
  const verify = async (secret: string) => {
    root ||= await rootToken(t.tessera);
    return (await call(t.app, "POST", "/v1/verify", { bearer: root }, { token: secret })).body.code as string;
  };

  it("answers true_positive for a token of ours, revokes it (onLeak default) and marks leakedAt", async () => {
    const leaked = await createToken(t.app, w.member.creds, w.orgId, { name: "pushed to github" });
    expect(await verify(leaked.secret)).toBe("VALID");
    const res = await post(alert(leaked.secret));
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.parse(res.body)).toEqual([{ token_raw: leaked.secret, token_type: "tessera_token", label: "true_positive" }]);
    expect(await verify(leaked.secret)).toBe("REVOKED");
    const detail = await call(t.app, "GET", `${org()}/tokens/${leaked.id}`, w.owner.creds);
    expect(detail.body.status).toBe("revoked");
    expect(detail.body.leakedAt).not.toBeNull();
    expect(detail.body.leakUrl).toBe("https://github.com/octo/repo/blob/abc/config.env");
    const events = await leakedEvents(leaked.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.actor_type).toBe("system");
    expect(JSON.parse(events[0]!.details)).toMatchObject({
      url: "https://github.com/octo/repo/blob/abc/config.env",
      onLeak: "revoke",
    });
    // The secret itself is in no audit event.
    const all = await t.tessera.store.db.selectFrom("audit_events").select("details").execute();
    expect(all.some((e) => e.details.includes(leaked.secret))).toBe(false);

    // GitHub retries: the same alert again is still true_positive and writes nothing more.
    const again = await post(alert(leaked.secret));
    expect(JSON.parse(again.body)[0].label).toBe("true_positive");
    expect(await leakedEvents(leaked.id)).toHaveLength(1);
  });

  it("suspends under onLeak=suspend and only notifies under onLeak=notify", async () => {
    expect((await call(t.app, "PATCH", org(), w.owner.creds, { onLeak: "suspend" })).status).toBe(200);
    const a = await createToken(t.app, w.owner.creds, w.orgId, { name: "suspend me" });
    expect(JSON.parse((await post(alert(a.secret))).body)[0].label).toBe("true_positive");
    expect(await verify(a.secret)).toBe("SUSPENDED");

    expect((await call(t.app, "PATCH", org(), w.owner.creds, { onLeak: "notify" })).status).toBe(200);
    const b = await createToken(t.app, w.owner.creds, w.orgId, { name: "notify me" });
    expect(JSON.parse((await post(alert(b.secret))).body)[0].label).toBe("true_positive");
    expect(await verify(b.secret)).toBe("VALID");
    const detail = await call(t.app, "GET", `${org()}/tokens/${b.id}`, w.owner.creds);
    expect(detail.body.leakedAt).not.toBeNull();
    expect(await leakedEvents(b.id)).toHaveLength(1);
    expect((await call(t.app, "PATCH", org(), w.owner.creds, { onLeak: "revoke" })).status).toBe(200);
  });

  it("handles a concurrent twin of the same alert once", async () => {
    const twin = await createToken(t.app, w.owner.creds, w.orgId, { name: "twin" });
    const answers = await Promise.all([post(alert(twin.secret)), post(alert(twin.secret)), post(alert(twin.secret))]);
    for (const res of answers) expect(JSON.parse(res.body)[0].label).toBe("true_positive");
    expect(await leakedEvents(twin.id)).toHaveLength(1);
    const revocations = await t.tessera.store.db
      .selectFrom("audit_events")
      .select("id")
      .where("target_id", "=", twin.id)
      .where("action", "=", "token.revoked")
      .execute();
    expect(revocations).toHaveLength(1);
  });

  it("answers false_positive for a checksum-valid token not in the database and for garbage, in order", async () => {
    const stranger = generateToken("tsr", "live").secret;
    const ours = await createToken(t.app, w.owner.creds, w.orgId, { name: "batch" });
    const body = [...alert(stranger), ...alert("tsr_live_not-a-token"), ...alert(ours.secret)];
    const res = await post(body);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).map((r: { label: string }) => r.label)).toEqual([
      "false_positive",
      "false_positive",
      "true_positive",
    ]);
  });

  it("refuses a bad signature, a missing one and an unknown key id, and then changes nothing", async () => {
    const target = await createToken(t.app, w.owner.creds, w.orgId, { name: "must survive" });
    const body = alert(target.secret);
    const raw = JSON.stringify(body);
    const badSig = sign("sha256", Buffer.from(`${raw} `), current.privateKey).toString("base64");
    const refused = [
      await post(body, null),
      await post(body, current, { "github-public-key-signature": badSig }),
      await post(body, current, { "github-public-key-signature": "bm90IGEgc2lnbmF0dXJl" }),
      await post(body, unpublished),
    ];
    for (const res of refused) {
      expect(res.statusCode, res.body).toBe(401);
      expect(JSON.parse(res.body).code).toBe("unauthorized");
    }
    expect(await verify(target.secret)).toBe("VALID");
    expect(await leakedEvents(target.id)).toHaveLength(0);
  });

  it("picks up a rotated key by refetching on an unknown identifier", async () => {
    const rotated = signer("key-rotated");
    published.unshift(rotated);
    const before = keyFetches;
    const target = await createToken(t.app, w.owner.creds, w.orgId, { name: "rotated" });
    // The last fetch may be less than 10 s old (refetches are throttled): wait it out once.
    let res = await post(alert(target.secret), rotated);
    if (res.statusCode === 401) {
      await new Promise((r) => setTimeout(r, 10_500));
      res = await post(alert(target.secret), rotated);
    }
    expect(res.statusCode, res.body).toBe(200);
    expect(keyFetches).toBeGreaterThan(before);
    expect(JSON.parse(res.body)[0].label).toBe("true_positive");
  }, 30_000);

  it("revokes a leaked root token (instance credentials have no onLeak)", async () => {
    const secret = await rootToken(t.tessera);
    expect(JSON.parse((await post(alert(secret))).body)[0].label).toBe("true_positive");
    const other = await rootToken(t.tessera);
    expect((await call(t.app, "POST", "/v1/verify", { bearer: other }, { token: secret })).body.code).toBe("REVOKED");
  });

  it("refuses a body that is not an alert list with 400", async () => {
    const res = await post({ token: "x" });
    expect(res.statusCode).toBe(400);
  });
});
