import { Button, Group, Paper, Text } from "@mantine/core";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import type { TokenView } from "../../api/types";
import { lazyDialog } from "../../components/lazy-dialog";
import { legalActions } from "../../lib/permissions";
import type { BatchAction } from "./api";
import type { BulkOutcome } from "./bulk-dialogs";

const BULK_ACTIONS: readonly BatchAction[] = ["suspend", "resume", "deactivate", "activate", "revoke"];

const BulkConfirmDialog = lazyDialog(
  () => import("./bulk-dialogs").then((m) => m.BulkConfirmDialog),
  (p) => p.action !== null,
);
const BulkResultsDialog = lazyDialog(
  () => import("./bulk-dialogs").then((m) => m.BulkResultsDialog),
  (p) => p.results !== null,
);

/**
 * The bar shown while rows are selected: the actions legal for at least one selected token, each
 * behind a confirmation that names how many tokens it touches, then what happened to each one.
 */
export function BulkActionBar({
  orgId,
  tokens,
  onClear,
}: {
  orgId: string;
  /** The selected tokens. */
  tokens: TokenView[];
  onClear: () => void;
}) {
  const { t } = useTranslation();
  const [action, setAction] = useState<BatchAction | null>(null);
  const [results, setResults] = useState<BulkOutcome | null>(null);
  const offered = BULK_ACTIONS.filter((a) => tokens.some((tk) => legalActions(tk.status).includes(a)));
  const count = tokens.length;

  return (
    <>
      {count > 0 && (
        <Paper withBorder p="xs" radius="md" bg="blue.0" role="region" aria-label={t("tokens.bulk.label")}>
          <Group justify="space-between" gap="xs">
            <Text size="sm" fw={600} aria-live="polite">
              {t("tokens.bulk.selected", { count })}
            </Text>
            <Group gap="xs">
              {offered.map((a) => (
                <Button key={a} size="xs" variant={a === "revoke" ? "filled" : "default"} color={a === "revoke" ? "red" : undefined} onClick={() => setAction(a)}>
                  {t(`tokens.actions.${a}`)}
                </Button>
              ))}
              <Button size="xs" variant="subtle" onClick={onClear}>
                {t("tokens.bulk.clear")}
              </Button>
            </Group>
          </Group>
        </Paper>
      )}

      <BulkConfirmDialog
        orgId={orgId}
        tokens={tokens}
        action={action}
        onClose={() => setAction(null)}
        onDone={(outcome) => {
          setAction(null);
          setResults(outcome);
          onClear();
        }}
      />
      <BulkResultsDialog results={results} onClose={() => setResults(null)} />
    </>
  );
}
