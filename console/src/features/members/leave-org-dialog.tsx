import { Button, Group, Stack, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { Dialog } from "../../components/dialog";
import { ErrorAlert } from "../../components/error-alert";
import { notifySuccess } from "../../components/notify";
import { useCurrentOrg } from "../orgs/org-context";
import { useLeaveOrg } from "./api";

/** Leaving = removing oneself; the last owner is refused by the server and the dialog shows why. */
export function LeaveOrgDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const { org, me } = useCurrentOrg();
  const leave = useLeaveOrg(org.id);
  const close = () => {
    leave.reset();
    onClose();
  };
  return (
    <Dialog opened={opened} onClose={close} title={t("members.leave.title")}>
      <Stack>
        <Text size="sm">{t("members.leave.body", { org: org.name })}</Text>
        <ErrorAlert error={leave.error} />
        <Group justify="flex-end">
          <Button variant="default" onClick={close} data-autofocus>
            {t("common.cancel")}
          </Button>
          <Button
            color="red"
            loading={leave.isPending}
            onClick={async () => {
              // Not mutate's per-call callbacks: the refreshed membership list unmounts this dialog first.
              try {
                await leave.mutateAsync(me.user.id);
              } catch {
                return; // shown by the ErrorAlert
              }
              notifySuccess(t("members.leave.done", { org: org.name }));
              navigate("/", { replace: true });
            }}
          >
            {t("members.leave.confirm")}
          </Button>
        </Group>
      </Stack>
    </Dialog>
  );
}
