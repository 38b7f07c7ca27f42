import { useSyncExternalStore } from "react";

/**
 * The embedded page's colour scheme (SPEC §9: from the session), forced on the MantineProvider in
 * main.tsx: Mantine's own setter would persist it to localStorage, which a third-party frame may not use.
 */
type Scheme = "light" | "dark";
let scheme: Scheme | undefined;
const listeners = new Set<() => void>();

export function setEmbedColorScheme(next: Scheme): void {
  scheme = next;
  for (const listener of listeners) listener();
}

export function useEmbedColorScheme(): Scheme | undefined {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => scheme,
  );
}
