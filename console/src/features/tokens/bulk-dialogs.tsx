import { Alert, Badge, Button, Group, List, Stack, Text, Textarea } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import type { TokenView } from "../../api/types";
import { Dialog } from "../../components/dialog";
import { ErrorAlert } from "../../components/error-alert";
import { type BatchAction, type BatchResult, useBatchTokens } from "./api";

export interface BulkOutcome {
  action: BatchAction;
  items: { token: TokenView | undefined; result: BatchResult }[];
}

/** The confirmation naming how many tokens an action touches (and which), with a reason for revoke. */
export function BulkConfirmDialog({
  orgId,
  tokens,
  action,
  onClose,
  onDone,
}: {
  orgId: string;
  tokens: TokenView[];
  action: BatchAction | null;
  onClose: () => void;
  onDone: (outcome: BulkOutcome) => void;
}) {
  const { t } = useTranslation();
  const batch = useBatchTokens(orgId);
  const [reason, setReason] = useState("");
  const count = tokens.length;

  const close = () => {
    setReason("");
    batch.reset();
    onClose();
  };

  const confirm = () => {
    if (!action) return;
    const byId = new Map(tokens.map((tk) => [tk.id, tk]));
    batch.mutate(
      { action, ids: tokens.map((tk) => tk.id), ...(action === "revoke" && reason.trim() ? { reason: reason.trim() } : {}) },
      {
        onSuccess: ({ results: answered }) => {
          setReason("");
          batch.reset();
          onDone({ action, items: answered.map((result) => ({ token: byId.get(result.id), result })) });
        },
      },
    );
  };

  return (
    <Dialog opened={action !== null} onClose={close} title={action ? t("tokens.bulk.confirmTitle", { action: t(`tokens.actions.${action}`), count }) : ""}>
        {action && (
          <Stack>
            {action === "revoke" ? (
              <Alert color="red" variant="light" icon={<IconAlertTriangle />} title={t("tokens.revoke.warningTitle")}>
                {t("tokens.bulk.revokeWarning", { count })}
              </Alert>
            ) : (
              <Text size="sm">{t("tokens.bulk.confirmBody", { count, action: t(`tokens.actions.${action}`) })}</Text>
            )}
            <List size="sm" spacing={2}>
              {tokens.map((tk) => (
                <List.Item key={tk.id}>
                  {tk.name} <span className="mono">({tk.prefix})</span>
                </List.Item>
              ))}
            </List>
            {action === "revoke" && (
              <Textarea
                label={t("tokens.revoke.reason")}
                description={t("tokens.revoke.reasonHint")}
                value={reason}
                onChange={(e) => setReason(e.currentTarget.value)}
                maxLength={500}
                autosize
                minRows={2}
              />
            )}
            <ErrorAlert error={batch.error} />
            <Group justify="flex-end">
              <Button variant="default" onClick={close} data-autofocus>
                {t("common.cancel")}
              </Button>
              <Button color={action === "revoke" ? "red" : undefined} loading={batch.isPending} onClick={confirm}>
                {t("tokens.bulk.confirm", { action: t(`tokens.actions.${action}`), count })}
              </Button>
            </Group>
          </Stack>
        )}
      </Dialog>
  );
}

/** What happened to each selected token. */
export function BulkResultsDialog({ results, onClose }: { results: BulkOutcome | null; onClose: () => void }) {
  const { t } = useTranslation();
  return (
      <Dialog opened={results !== null} onClose={() => onClose()} title={t("tokens.bulk.resultsTitle")}>
        {results && (
          <Stack>
            <Text size="sm">
              {t("tokens.bulk.summary", {
                ok: results.items.filter((i) => i.result.ok).length,
                failed: results.items.filter((i) => !i.result.ok).length,
              })}
            </Text>
            <ul className="bulk-results" aria-label={t("tokens.bulk.resultsTitle")}>
              {results.items.map(({ token, result }) => (
                <li key={result.id}>
                  <Group gap="xs" wrap="nowrap" align="flex-start">
                    <Badge color={result.ok ? "green" : "red"} variant="light" miw={70}>
                      {result.ok ? t("tokens.bulk.ok") : t("tokens.bulk.failed")}
                    </Badge>
                    <Stack gap={0}>
                      <Text size="sm" fw={600}>
                        {token?.name ?? result.id}
                      </Text>
                      <Text size="xs" c={result.ok ? "dimmed" : "red.9"}>
                        {result.ok
                          ? result.status
                            ? t(`status.${result.status}`)
                            : ""
                          : (result.problem?.detail ?? result.problem?.title ?? result.problem?.code ?? "")}
                      </Text>
                    </Stack>
                  </Group>
                </li>
              ))}
            </ul>
            <Group justify="flex-end">
              <Button onClick={() => onClose()} data-autofocus>
                {t("common.close")}
              </Button>
            </Group>
          </Stack>
        )}
      </Dialog>
  );
}
