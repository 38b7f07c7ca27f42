import { Alert, Button, Group, NativeSelect, Stack, Text } from "@mantine/core";
import { Dialog } from "../../components/dialog";
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import type { TokenView, TokenWithSecret } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { useCurrentOrg } from "../orgs/org-context";
import { useRegenerateToken } from "./api";
import { type ExpiryChoice, expiryPolicy, expiryRequest } from "./expiry";
import { ExpiryField } from "./expiry-field";
import { SecretReveal } from "./secret-reveal";

/** Grace periods offered for the old secret (the API allows up to 7 days). */
const GRACE_OPTIONS = [0, 3600, 86_400, 604_800] as const;

/** New secret for an existing token: grace period for the old one, a new expiry when it had expired. */
export function RegenerateDialog({ token, onClose }: { token: TokenView | null; onClose: () => void }) {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const regenerate = useRegenerateToken(org.id);
  // An expired token needs a new date to work again, so "never" is not offered here.
  const policy = useMemo(() => {
    const base = expiryPolicy(org.settings);
    const initial: ExpiryChoice =
      base.initial !== "never" ? base.initial : base.presets[0] !== undefined ? `${base.presets[0]}` : "custom";
    return { ...base, allowNever: false, initial };
  }, [org.settings]);
  const [grace, setGrace] = useState("0");
  const [expiry, setExpiry] = useState<ExpiryChoice>(policy.initial);
  const [customDate, setCustomDate] = useState<string | null>(null);
  const [dateError, setDateError] = useState<string | undefined>();
  const [result, setResult] = useState<TokenWithSecret | null>(null);
  const [askingToClose, setAskingToClose] = useState(false);

  const needsExpiry = token?.status === "expired";

  const close = () => onClose();

  const reset = () => {
    setResult(null);
    setAskingToClose(false);
    setGrace("0");
    setExpiry(policy.initial);
    setCustomDate(null);
    setDateError(undefined);
    regenerate.reset();
  };

  const submit = async () => {
    if (!token) return;
    if (needsExpiry && expiry === "custom" && !customDate) {
      setDateError(t("tokens.create.dateRequired"));
      return;
    }
    const body: { graceSeconds: number; expiresAt?: string } = { graceSeconds: Number(grace) };
    if (needsExpiry) {
      const requested = expiryRequest(expiry, customDate, policy.maxDate);
      // The regenerate endpoint takes an absolute date.
      if ("expiresInDays" in requested) {
        body.expiresAt = new Date(Date.now() + requested.expiresInDays * 86_400_000).toISOString();
      } else if (requested.expiresAt) {
        body.expiresAt = requested.expiresAt;
      }
    }
    try {
      const next = await regenerate.mutateAsync({ tokenId: token.id, ...body });
      regenerate.reset();
      setResult(next);
    } catch {
      // Shown by <ErrorAlert> from the mutation state.
    }
  };

  return (
    <Dialog
      opened={token !== null}
      onClose={result ? () => setAskingToClose(true) : close}
      title={result ? t("secret.regeneratedTitle") : t("tokens.regenerate.title")}
      closeOnClickOutside={!result}
      onExitTransitionEnd={reset}
      size="lg"
    >
      {token && result && (
        <SecretReveal
          token={result.token}
          secret={result.secret}
          onDone={close}
          askingToClose={askingToClose}
          onKeepOpen={() => setAskingToClose(false)}
        />
      )}
      {token && !result && (
        <Stack>
          <Text size="sm">{t("tokens.regenerate.intro", { name: token.name })}</Text>
          <ErrorAlert error={regenerate.error} />
          <NativeSelect
            label={t("tokens.regenerate.grace")}
            description={t("tokens.regenerate.graceHint")}
            data={GRACE_OPTIONS.map((s) => ({ value: String(s), label: t(`tokens.regenerate.graceOptions.${s}`) }))}
            value={grace}
            onChange={(e) => setGrace(e.currentTarget.value)}
            data-autofocus
          />
          {needsExpiry && (
            <>
              <Alert color="orange" variant="light">
                {t("tokens.regenerate.expiredHint")}
              </Alert>
              <ExpiryField
                policy={policy}
                choice={expiry}
                onChoiceChange={setExpiry}
                customDate={customDate}
                onCustomDateChange={(v) => {
                  setCustomDate(v);
                  setDateError(undefined);
                }}
                customDateError={dateError}
              />
            </>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              {t("common.cancel")}
            </Button>
            <Button loading={regenerate.isPending} onClick={submit}>
              {t("tokens.regenerate.confirm")}
            </Button>
          </Group>
        </Stack>
      )}
    </Dialog>
  );
}
