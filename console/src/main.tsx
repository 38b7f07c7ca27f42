import "@mantine/core/styles.css";
import "@mantine/dates/styles.css";
import "@mantine/notifications/styles.css";
import "@mantine/charts/styles.css";
import "./styles.css";
import { MantineProvider } from "@mantine/core";
import { DatesProvider } from "@mantine/dates";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useNotifications } from "@mantine/notifications";
import { lazy, StrictMode, Suspense, type ReactNode, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { useTranslation } from "react-i18next";
import { BrowserRouter, MemoryRouter } from "react-router-dom";
import { ApiError } from "./api/client";
import { App } from "./app";
import { sessionKeys } from "./features/session/api";
import { languageReady } from "./i18n";
import { useEmbedColorScheme } from "./lib/embed-theme";
import { buildTheme, cssVariablesResolver } from "./theme";

/** A 401 on any call after sign-in means the session ended: re-check `/v1/me`, which shows the sign-in screen. */
function onError(error: unknown, key?: readonly unknown[]): void {
  if (error instanceof ApiError && error.status === 401 && key?.[0] !== sessionKeys.me[0]) {
    void queryClient.invalidateQueries({ queryKey: sessionKeys.me });
  }
}

const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError: (error, query) => onError(error, query.queryKey) }),
  mutationCache: new MutationCache({ onError: (error) => onError(error) }),
  defaultOptions: {
    queries: {
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: true,
      staleTime: 5_000,
    },
  },
});

// The toasts' container (transitions, portal) loads with the first toast, not with the first screen;
// `notifications.show` only fills the store, which the container reads once mounted.
const Notifications = lazy(() => import("@mantine/notifications").then((m) => ({ default: m.Notifications })));

function Toasts() {
  const { notifications, queue } = useNotifications();
  const [wanted, setWanted] = useState(false);
  if (!wanted && notifications.length + queue.length > 0) setWanted(true);
  if (!wanted) return null;
  return (
    <Suspense fallback={null}>
      <Notifications position="top-right" />
    </Suspense>
  );
}

/** Theme, date pickers and notifications follow the UI language. */
function Localised({ children }: { children: ReactNode }) {
  const { t, i18n } = useTranslation();
  const theme = useMemo(() => buildTheme(t), [t]);
  const forcedScheme = useEmbedColorScheme();
  return (
    <MantineProvider
      theme={theme}
      defaultColorScheme="light"
      forceColorScheme={forcedScheme}
      cssVariablesResolver={cssVariablesResolver}
    >
      <Toasts />
      <DatesProvider settings={{ locale: i18n.language === "it" ? "it" : "en", firstDayOfWeek: 1 }}>
        {children}
      </DatesProvider>
    </MantineProvider>
  );
}

/**
 * The embedded tokens screen (`/embed`) navigates in memory: the frame's address stays `/embed`, the one
 * page the host may frame, and nothing of the session survives a reload (the host mints a new one).
 */
const Router = window.location.pathname.replace(/\/+$/, "") === "/embed" ? EmbedRouter : BrowserRouter;
function EmbedRouter({ children }: { children: ReactNode }) {
  return <MemoryRouter initialEntries={["/embed"]}>{children}</MemoryRouter>;
}

const root = document.getElementById("root");
if (!root) throw new Error("#root missing from index.html");

void languageReady.then(() =>
  createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <Router>
        <Localised>
          <App />
        </Localised>
      </Router>
    </QueryClientProvider>
  </StrictMode>,
),
);
