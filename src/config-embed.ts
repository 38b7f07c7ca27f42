/**
 * Embedding settings (SPEC §9), parsed with the rest of the configuration (`loadConfig`). Kept apart so
 * that the embed's configuration reads as one piece.
 */

export interface EmbedConfig {
  /**
   * `TESSERA_EMBED_ORIGINS`: the host origins allowed to frame `/embed` (`frame-ancestors`), comma- or
   * space-separated, e.g. `https://app.example.com`. Empty: nobody may frame it.
   */
  embedOrigins: readonly string[];
  /** `TESSERA_EMBED_SESSION_MINUTES` (default 15): how long the embedded page's bearer lasts. */
  embedSessionTtlMs: number;
}

/** Thrown with a message naming the variable and its value; the caller turns it into its ConfigError. */
export function parseEmbedConfig(env: NodeJS.ProcessEnv, fail: (message: string) => never): EmbedConfig {
  const raw = env.TESSERA_EMBED_ORIGINS ?? "";
  const embedOrigins: string[] = [];
  for (const item of raw.split(/[\s,]+/).filter(Boolean)) {
    let url: URL | undefined;
    try {
      url = new URL(item);
    } catch {
      url = undefined;
    }
    // An origin only: scheme, host and port. A path, query or wildcard would not mean what it seems to.
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || url.origin !== item.replace(/\/$/, "")) {
      fail(`TESSERA_EMBED_ORIGINS must list origins like https://app.example.com (got ${item})`);
    }
    embedOrigins.push(url.origin);
  }
  const minutesRaw = env.TESSERA_EMBED_SESSION_MINUTES;
  let minutes = 15;
  if (minutesRaw !== undefined && minutesRaw !== "") {
    minutes = Number(minutesRaw);
    if (!/^\d+$/.test(minutesRaw) || minutes < 1 || minutes > 1440) {
      fail(`TESSERA_EMBED_SESSION_MINUTES must be a whole number from 1 to 1440 (got ${minutesRaw})`);
    }
  }
  return { embedOrigins, embedSessionTtlMs: minutes * 60_000 };
}
