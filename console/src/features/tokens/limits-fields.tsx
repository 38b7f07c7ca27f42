import { ActionIcon, Button, Fieldset, Group, Select, Stack, Text, TextInput } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { CreditsInput, TokenView } from "../../api/types";

/**
 * Named rate limits and credits of a token (SPEC §4): the fields shared by the create and edit dialogs,
 * as one controlled value, turned into the API's `rateLimits` and `credits` by {@link limitsPayload}.
 */

export const MAX_LIMITS = 5;
const LIMIT_NAME = /^[a-z0-9][a-z0-9_.-]{0,31}$/;
const WHOLE = /^\d+$/;

export type RateLimits = NonNullable<TokenView["rateLimits"]>;
/** One limit as the form holds it: the wire fields, as typed text. */
export type LimitRow = { [K in keyof RateLimits[number]]: string };

export interface LimitsValue {
  limits: LimitRow[];
  /** Empty: unlimited uses. */
  credits: string;
  refillAmount: string;
  refillInterval: "" | "day" | "month";
}


export function emptyLimits(): LimitsValue {
  return { limits: [], credits: "", refillAmount: "", refillInterval: "" };
}

/** The form value of a token's current limits and credits. */
export function limitsOf(token: TokenView): LimitsValue {
  return {
    limits: (token.rateLimits ?? []).map((l) => ({ name: l.name, limit: String(l.limit), windowSeconds: String(l.windowSeconds) })),
    credits: token.credits ? String(token.credits.remaining) : "",
    refillAmount: token.credits?.refill ? String(token.credits.refill.amount) : "",
    refillInterval: token.credits?.refill?.interval ?? "",
  };
}

type Translate = (key: string, options?: Record<string, unknown>) => string;

/** The API's `rateLimits` and `credits` for a form value, or the first problem with it (translated). */
export function limitsPayload(
  v: LimitsValue,
  t: Translate,
): { ok: true; rateLimits: RateLimits; credits: CreditsInput | null } | { ok: false; error: string } {
  const names = new Set<string>();
  for (const row of v.limits) {
    if (!LIMIT_NAME.test(row.name)) return { ok: false, error: t("limits.nameRule") };
    if (names.has(row.name)) return { ok: false, error: t("limits.nameTwice", { name: row.name }) };
    names.add(row.name);
    if (!WHOLE.test(row.limit) || Number(row.limit) < 1 || !WHOLE.test(row.windowSeconds) || Number(row.windowSeconds) < 1)
      return { ok: false, error: t("limits.wholeNumbers") };
  }
  const rateLimits = v.limits.map((r) => ({ name: r.name, limit: Number(r.limit), windowSeconds: Number(r.windowSeconds) }));
  if (v.credits === "") {
    if (v.refillAmount !== "" || v.refillInterval !== "") return { ok: false, error: t("limits.refillNeedsCredits") };
    return { ok: true, rateLimits, credits: null };
  }
  if (!WHOLE.test(v.credits)) return { ok: false, error: t("limits.wholeNumbers") };
  if ((v.refillAmount === "") !== (v.refillInterval === "")) return { ok: false, error: t("limits.refillBoth") };
  if (v.refillAmount !== "" && (!WHOLE.test(v.refillAmount) || Number(v.refillAmount) < 1))
    return { ok: false, error: t("limits.wholeNumbers") };
  const refill = v.refillInterval ? { amount: Number(v.refillAmount), interval: v.refillInterval } : null;
  return { ok: true, rateLimits, credits: { remaining: Number(v.credits), refill } };
}

/** What a PATCH must send for the limits and credits to become `v` (nothing when they did not change). */
export function limitsChanges(
  token: TokenView,
  payload: { rateLimits: RateLimits; credits: CreditsInput | null },
): { rateLimits?: RateLimits; credits?: CreditsInput | null } {
  const changes: { rateLimits?: RateLimits; credits?: CreditsInput | null } = {};
  if (JSON.stringify(payload.rateLimits) !== JSON.stringify(token.rateLimits ?? [])) changes.rateLimits = payload.rateLimits;
  const before = token.credits ? { remaining: token.credits.remaining, refill: token.credits.refill ?? null } : null;
  if (JSON.stringify(payload.credits) !== JSON.stringify(before)) changes.credits = payload.credits;
  return changes;
}

export function LimitsFields({
  value,
  onChange,
  error,
}: {
  value: LimitsValue;
  onChange: (value: LimitsValue) => void;
  error?: string | undefined;
}) {
  const { t } = useTranslation();
  const setRow = (i: number, patch: Partial<LimitRow>) =>
    onChange({ ...value, limits: value.limits.map((row, j) => (j === i ? { ...row, ...patch } : row)) });
  return (
    <Fieldset legend={t("limits.legend")} variant="unstyled">
      <Stack gap="xs">
        <Text size="sm" c="dimmed">
          {t("limits.hint")}
        </Text>
        {value.limits.map((row, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place; names are edited
          <Group key={i} gap="xs" align="flex-end" wrap="nowrap">
            <TextInput
              label={t("limits.name")}
              value={row.name}
              onChange={(e) => setRow(i, { name: e.currentTarget.value })}
              className="mono-input"
              w={130}
            />
            <TextInput
              label={t("limits.limit")}
              inputMode="numeric"
              value={row.limit}
              onChange={(e) => setRow(i, { limit: e.currentTarget.value })}
              w={110}
            />
            <TextInput
              label={t("limits.window")}
              inputMode="numeric"
              value={row.windowSeconds}
              onChange={(e) => setRow(i, { windowSeconds: e.currentTarget.value })}
              w={130}
            />
            <ActionIcon
              variant="subtle"
              color="red"
              size="lg"
              aria-label={t("limits.remove", { name: row.name || i + 1 })}
              onClick={() => onChange({ ...value, limits: value.limits.filter((_, j) => j !== i) })}
            >
              ×
            </ActionIcon>
          </Group>
        ))}
        {value.limits.length < MAX_LIMITS && (
          <Group>
            <Button
              variant="default"
              size="xs"
              onClick={() =>
                onChange({
                  ...value,
                  limits: [
                    ...value.limits,
                    { name: value.limits.length === 0 ? "default" : `limit${value.limits.length + 1}`, limit: "", windowSeconds: "60" },
                  ],
                })
              }
            >
              {t("limits.add")}
            </Button>
          </Group>
        )}
        <Group gap="xs" align="flex-end" wrap="nowrap">
          <TextInput
            label={t("limits.credits")}
            description={t("limits.creditsHint")}
            inputMode="numeric"
            value={value.credits}
            onChange={(e) => onChange({ ...value, credits: e.currentTarget.value })}
            w={170}
          />
          <TextInput
            label={t("limits.refillAmount")}
            inputMode="numeric"
            value={value.refillAmount}
            onChange={(e) => onChange({ ...value, refillAmount: e.currentTarget.value })}
            w={130}
          />
          <Select
            label={t("limits.refillInterval")}
            value={value.refillInterval || null}
            onChange={(v) => onChange({ ...value, refillInterval: v === "day" || v === "month" ? v : "" })}
            data={[
              { value: "day", label: t("limits.daily") },
              { value: "month", label: t("limits.monthly") },
            ]}
            clearable
            w={140}
          />
        </Group>
        {error && (
          <Text size="sm" c="red" role="alert">
            {error}
          </Text>
        )}
      </Stack>
    </Fieldset>
  );
}

/** One line per limit and the credits, for the detail page. */
export function LimitsSummary({ token }: { token: TokenView }) {
  const { t } = useTranslation();
  const limits = token.rateLimits ?? [];
  return (
    <Stack gap={2}>
      {limits.length === 0 && !token.credits && <Text size="sm">{t("limits.none")}</Text>}
      {limits.map((l) => (
        <Text size="sm" key={l.name}>
          <span className="mono">{l.name}</span>: {t("limits.value", { limit: l.limit, seconds: l.windowSeconds })}
        </Text>
      ))}
      {token.credits && (
        <Text size="sm">
          {t("limits.remaining", { formatted: token.credits.remaining.toLocaleString() })}
          {token.credits.refill &&
            ` · ${t(token.credits.refill.interval === "day" ? "limits.refillsDaily" : "limits.refillsMonthly", { amount: token.credits.refill.amount })}`}
        </Text>
      )}
    </Stack>
  );
}
