import { Alert, Button, Group, Stack, Text, Textarea } from "@mantine/core";
import { Dialog } from "../../components/dialog";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import type { TokenView } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { notifySuccess } from "../../components/notify";
import { useCurrentOrg } from "../orgs/org-context";
import { useTokenTransition } from "./api";

/** Confirmation that revocation is immediate and irreversible, with an optional reason. */
export function RevokeDialog({ token, onClose }: { token: TokenView | null; onClose: () => void }) {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const transition = useTokenTransition(org.id);
  const [reason, setReason] = useState("");

  const close = () => {
    setReason("");
    transition.reset();
    onClose();
  };

  return (
    <Dialog opened={token !== null} onClose={close} title={t("tokens.revoke.title")}>
      {token && (
        <Stack>
          <Alert color="red" variant="light" icon={<IconAlertTriangle />} title={t("tokens.revoke.warningTitle")}>
            {t("tokens.revoke.warning", { name: token.name })}
          </Alert>
          <Text size="sm">
            <span className="mono">{token.maskedToken}</span>
          </Text>
          <ErrorAlert error={transition.error} />
          <Textarea
            label={t("tokens.revoke.reason")}
            description={t("tokens.revoke.reasonHint")}
            value={reason}
            onChange={(e) => setReason(e.currentTarget.value)}
            maxLength={500}
            autosize
            minRows={2}
            data-autofocus
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              {t("common.cancel")}
            </Button>
            <Button
              color="red"
              loading={transition.isPending}
              onClick={() =>
                transition.mutate(
                  { tokenId: token.id, action: "revoke", reason: reason.trim() || undefined },
                  {
                    onSuccess: () => {
                      notifySuccess(t("tokens.actions.done.revoke", { name: token.name }));
                      close();
                    },
                  },
                )
              }
            >
              {t("tokens.revoke.confirm")}
            </Button>
          </Group>
        </Stack>
      )}
    </Dialog>
  );
}
