import { Alert, Box, Center, Loader, Stack, Text } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { lazy, type ReactNode, Suspense, useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Navigate, Route, Routes } from "react-router-dom";
import { api, setEmbedBearer, unwrap } from "../../api/client";
import type { Answer, Me } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { setEmbedColorScheme } from "../../lib/embed-theme";
import { useOrg } from "../orgs/api";
import { OrgContext } from "../orgs/org-context";
import { TokensPage } from "../tokens/tokens-page";

const TokenDetailPage = lazy(() => import("../tokens/token-detail-page").then((m) => ({ default: m.TokenDetailPage })));

/** What `POST /v1/embed/exchange` answers. */
type EmbedGrant = Answer<"exchangeEmbedHandoff", 200>;

type Message =
  | { type: "tessera:ready" }
  | { type: "tessera:resize"; height: number }
  | { type: "tessera:token-created"; id: string }
  | { type: "tessera:session-expired" };

/**
 * Where messages go: the framing page's origin (frame-ancestors already restricts who that can be), as
 * the browser reports it; "*" only when it reports nothing. Messages carry no secret.
 */
function parentOrigin(): string {
  const ancestors = (window.location as Location & { ancestorOrigins?: DOMStringList }).ancestorOrigins;
  if (ancestors && ancestors.length > 0) return ancestors[0]!;
  try {
    if (document.referrer) return new URL(document.referrer).origin;
  } catch {
    // An unreadable referrer: fall through.
  }
  return "*";
}

function post(message: Message): void {
  if (window.parent === window) return;
  window.parent.postMessage(message, parentOrigin());
}

/**
 * The handoff is single use: one exchange per page load, whatever React does with effects (StrictMode
 * runs them twice in development). The fragment is wiped at once so that it stays in no history entry.
 */
let exchange: Promise<EmbedGrant> | null = null;
function exchangeOnce(): Promise<EmbedGrant> {
  if (exchange) return exchange;
  const handoff = new URLSearchParams(window.location.hash.slice(1)).get("handoff");
  window.history.replaceState(null, "", window.location.pathname);
  exchange = handoff
    ? unwrap(api.POST("/v1/embed/exchange", { body: { handoff }, credentials: "omit" }))
    : Promise.reject(new Error("no handoff in the URL"));
  return exchange;
}

/**
 * The session's theme: the colour scheme straight on the document (Mantine's own setter would write it to
 * localStorage, which a third-party frame may not touch, and would leak it into the standalone console),
 * and the host's accent colour on Mantine's primary-colour variables.
 */
function applyTheme({ mode, accent }: EmbedGrant["theme"]): void {
  setEmbedColorScheme(mode);
  document.documentElement.setAttribute("data-mantine-color-scheme", mode);
  const style = document.documentElement.style;
  style.colorScheme = mode;
  if (!accent) return;
  style.setProperty("--mantine-primary-color-filled", accent);
  style.setProperty("--mantine-primary-color-filled-hover", `color-mix(in srgb, ${accent} 85%, black)`);
  style.setProperty("--mantine-primary-color-light", `color-mix(in srgb, ${accent} 12%, transparent)`);
  style.setProperty("--mantine-primary-color-light-hover", `color-mix(in srgb, ${accent} 20%, transparent)`);
  style.setProperty("--mantine-primary-color-light-color", accent);
}

/**
 * The embedded tokens screen (SPEC §9): exchanges the handoff for a bearer kept in this module's memory
 * (no cookie, so third-party cookie blocking does not matter), shows the tokens screen in the session's
 * language and theme, and tells the host page what happens (`tessera:*` messages).
 */
export function EmbedPage() {
  const { i18n } = useTranslation();
  const queryClient = useQueryClient();
  const [grant, setGrant] = useState<EmbedGrant | null>(null);
  const [expired, setExpired] = useState(false);

  const expire = useCallback(() => {
    setEmbedBearer(null);
    queryClient.clear();
    setExpired((was) => {
      if (!was) post({ type: "tessera:session-expired" });
      return true;
    });
  }, [queryClient]);

  useEffect(() => {
    let live = true;
    exchangeOnce().then(
      (g) => {
        if (!live) return;
        setEmbedBearer({
          token: g.accessToken,
          onExpired: expire,
          onTokenCreated: (id) => post({ type: "tessera:token-created", id }),
        });
        void i18n.changeLanguage(g.locale);
        applyTheme(g.theme);
        setGrant(g);
      },
      () => live && expire(),
    );
    return () => {
      live = false;
    };
  }, [expire, i18n]);

  // The bearer's end is known: say so when it comes, rather than at the next failing call.
  useEffect(() => {
    if (!grant) return;
    const timer = window.setTimeout(expire, Math.max(0, Date.parse(grant.expiresAt) - Date.now()));
    return () => window.clearTimeout(timer);
  }, [grant, expire]);

  return (
    <Resizing ready={grant !== null || expired}>
      {expired ? <Expired /> : grant ? <EmbeddedTokens grant={grant} /> : <Opening />}
    </Resizing>
  );
}

/** Posts `tessera:ready` once, and `tessera:resize` whenever the content's height changes. */
function Resizing({ ready, children }: { ready: boolean; children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const announced = useRef(false);
  useLayoutEffect(() => {
    const element = ref.current;
    if (!element) return;
    let last = 0;
    const report = () => {
      const height = Math.ceil(element.getBoundingClientRect().height);
      if (height !== last) {
        last = height;
        post({ type: "tessera:resize", height });
      }
    };
    const observer = new ResizeObserver(report);
    observer.observe(element);
    report();
    return () => observer.disconnect();
  }, []);
  useEffect(() => {
    if (ready && !announced.current) {
      announced.current = true;
      post({ type: "tessera:ready" });
    }
  }, [ready]);
  return (
    <Box ref={ref} p="md" data-testid="embed-root">
      {children}
    </Box>
  );
}

function Opening() {
  const { t } = useTranslation();
  return (
    <Center mih={200}>
      <Stack align="center" gap="xs">
        <Loader size="sm" />
        <Text size="sm" c="dimmed">
          {t("embed.opening")}
        </Text>
      </Stack>
    </Center>
  );
}

function Expired() {
  const { t } = useTranslation();
  return (
    <Alert color="gray" title={t("embed.expiredTitle")} role="alert">
      {t("embed.expired")}
    </Alert>
  );
}

function EmbeddedTokens({ grant }: { grant: EmbedGrant }) {
  const orgId = grant.organization.id;
  const org = useOrg(orgId);
  if (org.isPending) return <PageLoader />;
  if (org.isError) return <ErrorAlert error={org.error} />;
  const role = grant.role;
  const me: Me = { user: grant.user, memberships: [{ orgId, orgName: org.data.name, role }] };
  const base = `/orgs/${encodeURIComponent(orgId)}/tokens`;
  return (
    <OrgContext.Provider value={{ org: org.data, role, me }}>
      <Routes>
        <Route path="/orgs/:orgId/tokens" element={<TokensPage />} />
        <Route
          path="/orgs/:orgId/tokens/:tokenId"
          element={
            <Suspense fallback={<PageLoader />}>
              <TokenDetailPage />
            </Suspense>
          }
        />
        <Route path="*" element={<Navigate replace to={base} />} />
      </Routes>
    </OrgContext.Provider>
  );
}
