/**
 * What the embedded tokens screen's bearer may reach (SPEC §9: "the tokens screen only"): its
 * organisation's settings and scope catalogue (read), and its tokens routes — each still decided by the
 * one policy for the person's role. Everything else (members, invitations, settings changes, audit log,
 * other organisations, the account) is refused, whatever the role.
 */
const READ_ONLY = new Set(["/v1/orgs/:orgId", "/v1/orgs/:orgId/scopes"]);
const TOKENS = "/v1/orgs/:orgId/tokens";

export function embedRouteAllowed(method: string, routeUrl: string): boolean {
  if (routeUrl === TOKENS || routeUrl.startsWith(`${TOKENS}/`)) return true;
  return (method === "GET" || method === "HEAD") && READ_ONLY.has(routeUrl);
}

/** The embedded page's path (a fragment never reaches the server; a query string might). */
export function isEmbedPage(url: string): boolean {
  const path = url.split("?", 1)[0];
  return path === "/embed" || path === "/embed/";
}
