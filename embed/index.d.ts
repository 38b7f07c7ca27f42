/** Messages the embedded tokens screen posts to its parent (SPEC §9). */
export type TesseraMessage =
  | { type: "tessera:ready" }
  | { type: "tessera:resize"; height: number }
  | { type: "tessera:token-created"; id: string }
  | { type: "tessera:session-expired" };

export interface MountOptions {
  /** The `url` from `POST /v1/embed/sessions` (or the SDK's `createEmbedSession()`). */
  url: string;
  title?: string;
  /** Smallest height in pixels (default 320). */
  minHeight?: number;
  onReady?: () => void;
  onTokenCreated?: (id: string) => void;
  /** The bearer ended: mint a new session on the host's backend and call `update(url)`. */
  onSessionExpired?: () => void;
  onMessage?: (message: TesseraMessage) => void;
}

export interface Mounted {
  iframe: HTMLIFrameElement;
  update(url: string): void;
  destroy(): void;
}

export declare function mount(container: Element, options: MountOptions): Mounted;
