/**
 * A background loop shared by the retention job, the notice scheduler and the mail sender: one run at a
 * time, every `intervalMs` after the previous one ends (the first after `firstDelayMs`), on a timer that
 * never keeps the process alive. `run` starts a run at once or joins the one in progress; `close` stops
 * the timer and waits for a run in progress (whose loops should stop early when `closed` says so).
 */
export interface PeriodicOptions {
  intervalMs: number;
  /** Delay of the first scheduled run (default: `intervalMs`). */
  firstDelayMs?: number;
  /** A scheduled run failed: it is tried again at the next interval. */
  onError?: (error: unknown) => void;
}

export class Periodic<T> {
  readonly #scheduled: () => Promise<T>;
  readonly #options: PeriodicOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<T> | undefined;
  #closed = false;

  /** `scheduled`: what a timer-started run does. */
  constructor(scheduled: () => Promise<T>, options: PeriodicOptions) {
    this.#scheduled = scheduled;
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(): void {
    if (this.#closed || this.#timer) return;
    this.#schedule(this.#options.firstDelayMs ?? this.#options.intervalMs);
  }

  /** A scheduled run soon, instead of at the end of the current interval (when started). */
  poke(): void {
    if (this.#closed || !this.#timer) return;
    clearTimeout(this.#timer);
    this.#schedule(0);
  }

  /** Runs `task` now, or joins the run in progress (whatever it was started with). */
  run(task: () => Promise<T> = this.#scheduled): Promise<T> {
    if (!this.#running) {
      this.#running = task().finally(() => {
        this.#running = undefined;
      });
    }
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.run()
        .catch((error) => this.#options.onError?.(error))
        .finally(() => {
          if (!this.#closed) this.#schedule(this.#options.intervalMs);
        });
    }, delayMs);
    this.#timer.unref();
  }
}
